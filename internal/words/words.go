// Package words holds the small pieces of English that every screen and
// report of the project shares, so that they say it the same way.
package words

import "strconv"

// Count is n followed by the noun in the number n asks for: "1 entry",
// "2 entries", "0 exceptions".
func Count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// Counts is Count for a count held in a uint64.
func Counts(n uint64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.FormatUint(n, 10) + " " + many
}
