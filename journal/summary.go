package journal

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// SummaryFile is where the writer of a journal keeps its Summary, inside the
// experiment folder's .trialbook/ (beside the lock): a list of experiments
// reads it instead of folding every journal.
const SummaryFile = "summary.json"

// Summary is the part of a snapshot that a list of experiments shows, with
// the size of the journal it is the fold of.
type Summary struct {
	Size      int64           `json:"size"` // bytes of journal.jsonl folded
	Seq       int64           `json:"seq"`
	Problem   *ProblemSummary `json:"problem"`
	Status    string          `json:"status"`
	Counts    Counts          `json:"counts"`
	Best      *TrialRow       `json:"best"`
	UpdatedAt time.Time       `json:"updatedAt,omitzero"`
}

// Summary summarises s as the fold of size bytes of journal.
func (s *Snapshot) Summary(size int64) Summary {
	return Summary{Size: size, Seq: s.Seq, Problem: s.Problem, Status: s.Status, Counts: s.Counts, Best: s.Best, UpdatedAt: s.UpdatedAt}
}

// SummaryPath is the summary file of the journal at path.
func SummaryPath(journalPath string) string {
	return filepath.Join(filepath.Dir(journalPath), ".trialbook", SummaryFile)
}

// writeSummary replaces the summary file (through a temporary file and a
// rename, so a reader never sees half of one). It does not sync: the file is
// a cache that ReadSummary checks against the journal, never the record.
func writeSummary(journalPath string, sum Summary) error {
	path := SummaryPath(journalPath)
	b, err := json.Marshal(sum)
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, SummaryFile+".*")
	if err != nil {
		return err
	}
	_, werr := f.Write(b)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(f.Name(), path)
	}
	if werr != nil {
		os.Remove(f.Name())
		return fmt.Errorf("write %s: %w", path, werr)
	}
	return nil
}

// ReadSummary reads the summary the writer of the journal at path left, if it
// is the fold of the journal as it is now: the journal's size is the one
// summarised and the journal has not been written since. ok is false for a
// summary that is missing, stale or unreadable (fold the journal instead); an
// error only for a journal that cannot be looked at.
func ReadSummary(journalPath string) (sum Summary, ok bool, err error) {
	jst, err := os.Stat(journalPath)
	if err != nil {
		return Summary{}, false, err
	}
	f, err := os.Open(SummaryPath(journalPath))
	if errors.Is(err, fs.ErrNotExist) {
		return Summary{}, false, nil
	}
	if err != nil {
		return Summary{}, false, nil
	}
	defer f.Close()
	sst, err := f.Stat()
	if err != nil || jst.ModTime().After(sst.ModTime()) {
		return Summary{}, false, nil
	}
	if err := json.NewDecoder(f).Decode(&sum); err != nil || sum.Size != jst.Size() {
		return Summary{}, false, nil
	}
	return sum, true, nil
}
