package glob

import "testing"

func TestMatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"", "", true},
		{"", "a", false},
		{"*", "", true},
		{"*", "anything:at/all", true},
		{"news", "news", true},
		{"news", "news2", false},
		{"news:*", "news:sport", true},
		{"news:*", "chat:sport", false},
		{"*:sport", "news:sport", true},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"a*b*c", "aXXbYYc", true},
		{"a*b*c", "aXXbYY", false},
		{"https://*.example.com", "https://app.example.com", true},
		{"https://*.example.com", "https://example.com", false},
		{"**", "x", true},
	}
	for _, tt := range tests {
		if got := Match(tt.pattern, tt.s); got != tt.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
		}
	}
}

func FuzzMatch(f *testing.F) {
	f.Add("a*b?c", "aXbYc")
	f.Fuzz(func(t *testing.T, pattern, s string) {
		if Match(pattern, s) != Match(pattern, s) {
			t.Fatal("not deterministic")
		}
		if !containsWild(s) && !Match(s, s) {
			t.Fatalf("literal pattern %q does not match itself", s)
		}
	})
}

func containsWild(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '*' || s[i] == '?' {
			return true
		}
	}
	return false
}
