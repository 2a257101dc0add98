package kernel

import (
	"flag"
	"strconv"
)

var update = flag.Bool("update", false, "rewrite golden files and the fuzz seed corpus in testdata")

func strconvQuote(b []byte) string { return strconv.Quote(string(b)) }
