package lab

import (
	_ "embed"
	"fmt"
	"strconv"
)

//go:embed harness/setup.py
var setupBody string

// SetupCell is the harness's first code cell of a trial notebook: the trial's
// constants, then the code that loads the data view and defines hand_back.
func SetupCell(trial int, seed int64, metric string) string {
	return fmt.Sprintf("# trialbook setup: written by the harness, do not edit\nTRIAL = %d\nSEED = %d\nMETRIC = %s\n\n%s",
		trial, seed, strconv.Quote(metric), setupBody)
}
