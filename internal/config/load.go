package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/knadh/koanf/parsers/toml/v2"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/posflag"
	"github.com/knadh/koanf/v2"
	"github.com/spf13/pflag"
)

// Environment variable prefixes, in increasing priority: a ROTOR_ variable
// wins over the CENTRIFUGO_ variable of the same key.
const (
	EnvPrefixCentrifugo = "CENTRIFUGO_"
	EnvPrefix           = "ROTOR_"
)

// DefaultProxyTimeout is the timeout of a named proxy ("proxies" item) whose
// timeout is not set.
const DefaultProxyTimeout = time.Second

// LoadOptions tells Load where to read the configuration from. The zero
// value reads the process environment only.
type LoadOptions struct {
	// File is the config file. Its extension selects the format: .json,
	// .yaml, .yml or .toml. "" means no file.
	File string
	// Data, when not nil, is the content of File; the file is then not read
	// and File only names the format and the source in messages.
	Data []byte
	// Format overrides the extension of File: "json", "yaml" or "toml".
	Format string
	// Environ is the environment as "KEY=value" strings; nil means
	// os.Environ(). Pass an empty non-nil slice to ignore the environment.
	Environ []string
	// Flags are command-line flags. Only flags that were set on the command
	// line and whose name is a config key are applied; others are skipped.
	Flags *pflag.FlagSet
}

// Warning is a problem Load found that does not stop the server: an unknown
// key, or a legacy key that Load translated.
type Warning struct {
	// Source is where the key came from: the file path, "env NAME" or "flags".
	Source string
	// Key is the config key, with the path of the list item it is in
	// ("namespaces[1].presense").
	Key string
	// Message says what was done and what to write instead.
	Message string
}

// LoadError is the error of Load when a source holds values it cannot use:
// a file that does not parse, or values of the wrong type.
type LoadError struct {
	// Source is the file path, "env NAME" or "flags".
	Source string
	// Problems lists each bad value; Key is "" for a whole-file error.
	Problems []Problem
}

// Error formats one line per problem: "config: source: key: message".
func (e *LoadError) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString("config: " + e.Source + ": ")
		if p.Key != "" {
			b.WriteString(p.Key + ": ")
		}
		b.WriteString(p.Message)
	}
	return b.String()
}

// String formats the warning as "source: key: message".
func (w Warning) String() string {
	return w.Source + ": " + w.Key + ": " + w.Message
}

// Load builds a Config. It starts from Defaults, then applies the file, the
// CENTRIFUGO_<KEY> environment variables, the ROTOR_<KEY> ones and finally
// the flags that were set, each source overriding the ones before.
//
// Load reports type errors (a string where a number is needed, a bad
// duration, unparsable file) as its error; keys it does not know and legacy
// keys it translated come back as warnings. It does not validate the values
// against each other: call Config.Validate for that.
//
// Value rules: durations are strings such as "10s" or "1m30s"; a plain
// number (or a string holding an integer) is a number of seconds. A list
// key such as redis_address may be given as a single string. In the
// environment, lists are space separated and namespaces, rpc_namespaces,
// proxies and proxy_static_http_headers are JSON. Empty environment
// variables are ignored. JSON files may contain // and /* */ comments.
func Load(opts LoadOptions) (cfg Config, warnings []Warning, err error) {
	warn := func(w Warning) { warnings = append(warnings, w) }
	k := koanf.New(".")
	if err := k.Load(confmap.Provider(configSchema.toMap(reflect.ValueOf(Defaults())), ""), nil); err != nil {
		return Config{}, nil, fmt.Errorf("config: defaults: %w", err)
	}

	// Each source is type-checked on its own, so that an error names it.
	type source struct {
		name string
		m    map[string]any
	}
	var sources []source

	if opts.File != "" || opts.Data != nil {
		m, err := readFile(opts)
		if err != nil {
			return Config{}, nil, err
		}
		name := opts.File
		if name == "" {
			name = "config"
		}
		prepareSource(name, m, warn)
		sources = append(sources, source{name, m})
	}

	environ := opts.Environ
	if environ == nil {
		environ = os.Environ()
	}
	for _, prefix := range []string{EnvPrefixCentrifugo, EnvPrefix} {
		m, err := readEnv(prefix, environ, warn)
		if err != nil {
			return Config{}, nil, err
		}
		keys := make([]string, 0, len(m))
		for key := range m {
			keys = append(keys, key)
		}
		sort.Strings(keys)
		for _, key := range keys {
			// Each variable is its own source, so an error names it.
			sources = append(sources, source{"env " + prefix + strings.ToUpper(key), map[string]any{key: m[key]}})
		}
	}

	if opts.Flags != nil {
		m, err := readFlags(opts.Flags)
		if err != nil {
			return Config{}, nil, err
		}
		sources = append(sources, source{"flags", m})
	}

	for _, s := range sources {
		var scratch Config
		if ps := decode(s.m, &scratch); ps != nil {
			return Config{}, nil, &LoadError{Source: s.name, Problems: ps}
		}
		if err := k.Load(confmap.Provider(s.m, ""), nil); err != nil {
			return Config{}, nil, fmt.Errorf("config: %s: %w", s.name, err)
		}
	}

	if ps := decode(k.Raw(), &cfg); ps != nil {
		return Config{}, nil, &LoadError{Source: "merged config", Problems: ps}
	}
	cfg.applyCompat()
	warnUnserved(&cfg, warn)
	return cfg, warnings, nil
}

// warnUnserved warns about keys Rotor reads, as Centrifugo configurations
// carry them, but does not act on yet, so that nobody relies on them
// unknowingly.
func warnUnserved(cfg *Config, warn func(Warning)) {
	if cfg.Admin {
		warn(Warning{Source: "config", Key: "admin", Message: "true, but Rotor serves no admin web interface; the admin_* keys are ignored"})
	}
}

// applyCompat maps legacy keys to their current meaning and fills the
// defaults of list items.
func (c *Config) applyCompat() {
	if c.Publish {
		c.AllowPublishForClient = true
	}
	for i := range c.Proxies {
		if c.Proxies[i].Timeout == 0 {
			c.Proxies[i].Timeout = DefaultProxyTimeout
		}
	}
}

// readFile reads and parses the config file into a map.
func readFile(opts LoadOptions) (map[string]any, error) {
	data := opts.Data
	if data == nil {
		var err error
		if data, err = os.ReadFile(opts.File); err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
	}
	format := strings.ToLower(opts.Format)
	if format == "" {
		format = FormatOf(opts.File)
	}
	var (
		m   map[string]any
		err error
	)
	switch format {
	case "json":
		m, err = parseJSON(data)
	case "yaml":
		m, err = yaml.Parser().Unmarshal(data)
	case "toml":
		m, err = toml.Parser().Unmarshal(data)
	default:
		return nil, &LoadError{Source: opts.File, Problems: []Problem{{
			Message: fmt.Sprintf("unknown format %q; use a .json, .yaml, .yml or .toml file", filepath.Ext(opts.File))}}}
	}
	if err != nil {
		return nil, &LoadError{Source: opts.File, Problems: []Problem{{Message: err.Error()}}}
	}
	if m == nil {
		m = map[string]any{}
	}
	return m, nil
}

// FormatOf returns the config format of a file name by its extension:
// "json", "yaml", "toml", or "" when the extension is none of them.
func FormatOf(file string) string {
	switch strings.ToLower(filepath.Ext(file)) {
	case ".json":
		return "json"
	case ".yaml", ".yml":
		return "yaml"
	case ".toml":
		return "toml"
	}
	return ""
}

// parseJSON parses a JSON object that may contain comments, reporting the
// line and column of a syntax error.
func parseJSON(data []byte) (map[string]any, error) {
	clean := StripJSONComments(data)
	var v any
	if err := json.Unmarshal(clean, &v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			// Offset counts the bytes read, the bad one included.
			line, col := lineCol(clean, se.Offset-1)
			return nil, fmt.Errorf("line %d, column %d: %w", line, col, err)
		case errors.As(err, &te):
			line, col := lineCol(clean, te.Offset)
			return nil, fmt.Errorf("line %d, column %d: %w", line, col, err)
		}
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("the file must hold a JSON object, not %s", jsonKind(v))
	}
	return m, nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case []any:
		return "an array"
	case string:
		return "a string"
	case float64:
		return "a number"
	case bool:
		return "a boolean"
	}
	return fmt.Sprintf("%T", v)
}

func lineCol(b []byte, off int64) (line, col int) {
	line, col = 1, 1
	for i := int64(0); i < off && i < int64(len(b)); i++ {
		if b[i] == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return line, col
}

// StripJSONComments returns data with // line comments and /* */ block
// comments outside of strings replaced by spaces (newlines are kept, so
// line and column numbers of errors still match the original). Slashes
// inside strings, such as in "grpc://host:1", are left alone.
func StripJSONComments(data []byte) []byte {
	out := make([]byte, len(data))
	copy(out, data)
	const (
		code = iota
		str
		lineComment
		blockComment
	)
	state := code
	for i := 0; i < len(out); i++ {
		c := out[i]
		switch state {
		case code:
			switch {
			case c == '"':
				state = str
			case c == '/' && i+1 < len(out) && out[i+1] == '/':
				state = lineComment
				out[i], out[i+1] = ' ', ' '
				i++
			case c == '/' && i+1 < len(out) && out[i+1] == '*':
				state = blockComment
				out[i], out[i+1] = ' ', ' '
				i++
			}
		case str:
			switch c {
			case '\\':
				i++ // skip the escaped byte
			case '"', '\n':
				state = code
			}
		case lineComment:
			if c == '\n' {
				state = code
			} else if c != '\r' {
				out[i] = ' '
			}
		case blockComment:
			if c == '*' && i+1 < len(out) && out[i+1] == '/' {
				out[i], out[i+1] = ' ', ' '
				i++
				state = code
			} else if c != '\n' && c != '\r' {
				out[i] = ' '
			}
		}
	}
	return out
}

// prepareSource normalises one source's map: nested maps get string keys,
// null values are dropped (a null means "not set"), the legacy "publish"
// key of namespace items is translated, and unknown keys are reported.
func prepareSource(name string, m map[string]any, warn func(Warning)) {
	for k, v := range m {
		if v == nil {
			delete(m, k)
			continue
		}
		m[k] = normalize(v)
	}
	if p, ok := m["publish"]; ok {
		warn(publishNotice(name, "publish", p))
	}
	if items, ok := m["namespaces"].([]any); ok {
		for i, it := range items {
			ns, ok := it.(map[string]any)
			if !ok {
				continue
			}
			for k, v := range ns {
				if v == nil {
					delete(ns, k)
				}
			}
			if p, ok := ns["publish"]; ok {
				delete(ns, "publish")
				if isTrue(p) {
					ns["allow_publish_for_client"] = true
				}
				warn(publishNotice(name, fmt.Sprintf("namespaces[%d].publish", i), p))
			}
		}
	}
	checkKeys(name, "", m, configSchema, warn)
}

// publishNotice is the one-line notice for the v3 key "publish".
func publishNotice(source, key string, v any) Warning {
	msg := `Centrifugo v3 key "publish" is only read when true (as "allow_publish_for_client": true); ignored`
	if isTrue(v) {
		msg = `Centrifugo v3 key "publish": true is read as "allow_publish_for_client": true`
	}
	return Warning{Source: source, Key: key, Message: msg}
}

// isTrue reports whether v is true or a string that parses as true.
func isTrue(v any) bool {
	switch t := v.(type) {
	case bool:
		return t
	case string:
		b, err := strconv.ParseBool(t)
		return err == nil && b
	}
	return false
}

// normalize converts the map[any]any of some parsers into map[string]any,
// recursively, and []map[string]any into []any.
func normalize(v any) any {
	switch t := v.(type) {
	case map[any]any:
		m := make(map[string]any, len(t))
		for k, x := range t {
			m[fmt.Sprint(k)] = normalize(x)
		}
		return m
	case map[string]any:
		for k, x := range t {
			t[k] = normalize(x)
		}
		return t
	case []map[string]any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = normalize(x)
		}
		return out
	case []any:
		for i, x := range t {
			t[i] = normalize(x)
		}
		return t
	}
	return v
}

// readEnv returns the config keys set by variables with prefix, typed by
// the key: lists split on spaces, list items and maps parsed as JSON, other
// values left as strings for the decoder.
func readEnv(prefix string, environ []string, warn func(Warning)) (map[string]any, error) {
	var errs []error
	p := env.Provider("", env.Opt{
		Prefix:      prefix,
		EnvironFunc: func() []string { return environ },
		TransformFunc: func(name, value string) (string, any) {
			key := strings.ToLower(strings.TrimPrefix(name, prefix))
			source := "env " + name
			if key == "" || value == "" {
				return "", nil
			}
			f, ok := configSchema.byKey[key]
			if !ok {
				warn(Warning{Source: source, Key: key, Message: unknownKeyMessage(key, configSchema)})
				return "", nil
			}
			var v any = value
			switch {
			case f.typ.Kind() == reflect.Slice && f.typ.Elem().Kind() == reflect.String:
				v = strings.Fields(value)
			case f.typ.Kind() == reflect.Slice || f.typ.Kind() == reflect.Map:
				if err := json.Unmarshal([]byte(value), &v); err != nil {
					errs = append(errs, &LoadError{Source: source, Problems: []Problem{{Key: key, Message: "must be JSON: " + err.Error()}}})
					return "", nil
				}
			}
			m := map[string]any{key: v}
			prepareSource(source, m, warn)
			return key, m[key]
		},
	})
	m, err := p.Read()
	if err != nil {
		return nil, fmt.Errorf("config: environment: %w", err)
	}
	if len(errs) > 0 {
		sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
		return nil, errors.Join(errs...)
	}
	return m, nil
}

// readFlags returns the values of the flags that were set and are config
// keys.
func readFlags(fs *pflag.FlagSet) (map[string]any, error) {
	p := posflag.ProviderWithFlag(fs, ".", nil, func(f *pflag.Flag) (string, any) {
		if !f.Changed {
			return "", nil
		}
		if _, ok := configSchema.byKey[f.Name]; !ok {
			return "", nil
		}
		return f.Name, posflag.FlagVal(fs, f)
	})
	m, err := p.Read()
	if err != nil {
		return nil, fmt.Errorf("config: flags: %w", err)
	}
	return m, nil
}

// decode decodes a koanf map into out, returning a Problem for each bad
// value.
func decode(m map[string]any, out *Config) []Problem {
	d, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		DecodeHook:       durationHook,
		WeaklyTypedInput: true,
		TagName:          "koanf",
		MatchName:        func(mapKey, fieldName string) bool { return mapKey == fieldName },
		Result:           out,
	})
	if err != nil {
		return []Problem{{Message: err.Error()}}
	}
	err = d.Decode(m)
	if err == nil {
		return nil
	}
	var ps []Problem
	collectDecodeErrors(err, &ps)
	if len(ps) == 0 {
		ps = append(ps, Problem{Message: err.Error()})
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].Key < ps[j].Key })
	return ps
}

// collectDecodeErrors flattens mapstructure's error tree into "key: reason"
// lines, one per innermost field error.
func collectDecodeErrors(err error, out *[]Problem) {
	switch e := err.(type) {
	case nil:
	case *mapstructure.DecodeError:
		inner := e.Unwrap()
		var nested *mapstructure.DecodeError
		if errors.As(inner, &nested) {
			collectDecodeErrors(inner, out)
			return
		}
		*out = append(*out, Problem{Key: e.Name(), Message: describeDecodeError(inner)})
	case interface{ Unwrap() []error }:
		for _, x := range e.Unwrap() {
			collectDecodeErrors(x, out)
		}
	default:
		if w := errors.Unwrap(err); w != nil {
			collectDecodeErrors(w, out)
			return
		}
		*out = append(*out, Problem{Message: err.Error()})
	}
}

func describeDecodeError(err error) string {
	var pe *mapstructure.ParseError
	if errors.As(err, &pe) {
		return fmt.Sprintf("%s is not a valid %s", describeValue(pe.Value), typeName(pe.Expected.Type()))
	}
	var ue *mapstructure.UnconvertibleTypeError
	if errors.As(err, &ue) {
		return fmt.Sprintf("%s is not a valid %s", describeValue(ue.Value), typeName(ue.Expected.Type()))
	}
	return err.Error()
}

func describeValue(v any) string {
	switch t := v.(type) {
	case string:
		return strconv.Quote(t)
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	}
	return fmt.Sprint(v)
}

func typeName(t reflect.Type) string {
	switch {
	case t == durationType:
		return `duration (such as "10s")`
	case t.Kind() == reflect.Bool:
		return "boolean"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		return "integer"
	case t.Kind() == reflect.String:
		return "string"
	case t.Kind() == reflect.Slice:
		return "list"
	case t.Kind() == reflect.Map || t.Kind() == reflect.Struct:
		return "object"
	case t.Kind() == reflect.Pointer:
		return typeName(t.Elem())
	}
	return t.String()
}

// maxDurationSeconds is the largest number of seconds a time.Duration holds.
const maxDurationSeconds = math.MaxInt64 / int64(time.Second)

// durationHook decodes durations: strings such as "10s", and numbers (or
// strings holding an integer) as seconds.
func durationHook(from, to reflect.Type, data any) (any, error) {
	if to != durationType {
		return data, nil
	}
	switch v := data.(type) {
	case time.Duration:
		return v, nil
	case string:
		s := strings.TrimSpace(v)
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return secondsInt(n)
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			return nil, fmt.Errorf(`%q is not a duration; write it like "10s", "500ms" or "1m30s" (a plain number means seconds)`, v)
		}
		return d, nil
	case int:
		return secondsInt(int64(v))
	case int64:
		return secondsInt(v)
	case int32:
		return secondsInt(int64(v))
	case uint64:
		if v > uint64(maxDurationSeconds) {
			return nil, fmt.Errorf("%d seconds is too long a duration", v)
		}
		return secondsInt(int64(v))
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) || math.Abs(v) > float64(maxDurationSeconds) {
			return nil, fmt.Errorf("%v seconds is not a valid duration", v)
		}
		return time.Duration(v * float64(time.Second)), nil
	}
	return data, nil
}

func secondsInt(n int64) (time.Duration, error) {
	if n > maxDurationSeconds || n < -maxDurationSeconds {
		return 0, fmt.Errorf("%d seconds is too long a duration", n)
	}
	return time.Duration(n) * time.Second, nil
}
