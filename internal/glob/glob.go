// Package glob matches strings against simple wildcard patterns: "*" matches
// any run of characters (including none), "?" exactly one byte, everything
// else itself.
package glob

// Match reports whether s matches pattern. It runs in O(len(pattern)·len(s))
// at worst and never allocates.
func Match(pattern, s string) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p++
			i++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}
