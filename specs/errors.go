package specs

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Error is a problem file that does not describe a valid problem. It lists
// every issue found, each naming the field it is about, so that a user fixes
// them all in one go. Callers that answer over HTTP can tell it from an I/O
// failure with errors.As.
type Error struct {
	File   string  // the problem file as the caller named it
	Issues []Issue // at least one
}

// Issue is one thing wrong with a problem file.
type Issue struct {
	// Field is the field path, e.g. "validation.folds" or "features.ids[1]";
	// "" for Jsonnet errors, whose Message starts with file:line:column.
	Field   string
	Message string
}

func (e *Error) Error() string {
	if len(e.Issues) == 1 {
		if e.Issues[0].Field == "" && strings.HasPrefix(e.Issues[0].Message, e.File+":") {
			return e.Issues[0].Message // a Jsonnet error already says file:line:column
		}
		return e.File + ": " + e.Issues[0].String()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d problems:", e.File, len(e.Issues))
	for _, is := range e.Issues {
		b.WriteString("\n  " + strings.ReplaceAll(is.String(), "\n", "\n  "))
	}
	return b.String()
}

func (i Issue) String() string {
	if i.Field == "" {
		return i.Message
	}
	return i.Field + ": " + i.Message
}

// issues collects Issues while a problem is checked.
type issues []Issue

func (is *issues) add(field, format string, args ...any) {
	*is = append(*is, Issue{Field: field, Message: fmt.Sprintf(format, args...)})
}

// show renders a value from the evaluated problem as JSON, shortened.
func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	s := string(b)
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return s
}

// kindOf names a JSON value's type the way a user thinks of it.
func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case json.Number, float64:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	default:
		return fmt.Sprintf("a %T", v)
	}
}

// didYouMean returns ` did you mean "x"?` for the closest candidate, or "" when
// none is close enough to be a likely typo.
func didYouMean(got string, candidates []string) string {
	if len(got) >= 3 {
		for _, c := range candidates {
			if strings.HasPrefix(strings.ToLower(c), strings.ToLower(got)) {
				return fmt.Sprintf(" did you mean %q?", c)
			}
		}
	}
	best, bestD := "", -1
	for _, c := range candidates {
		d := editDistance(strings.ToLower(got), strings.ToLower(c))
		if bestD < 0 || d < bestD {
			best, bestD = c, d
		}
	}
	// A third of the name may be wrong; a one- or two-letter name only in case.
	limit := len(got) / 3
	if len(got) >= 3 {
		limit = max(1, limit)
	}
	if bestD < 0 || bestD > limit {
		return ""
	}
	return fmt.Sprintf(" did you mean %q?", best)
}

// editDistance is the Levenshtein distance between a and b, over runes.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// quoteList renders names for an "allowed:" list.
func quoteList(names []string) string {
	return strings.Join(names, ", ")
}
