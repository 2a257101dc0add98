package journal

import (
	"sort"
	"time"
)

// Experiment statuses, Snapshot.Status.
const (
	StatusCreated  = "created" // no experiment.started yet
	StatusRunning  = "running"
	StatusPaused   = "paused" // stopped; resumable
	StatusFinished = "finished"
	StatusFailed   = "failed"
)

// Trial statuses, TrialRow.Status.
const (
	TrialStatusProposed    = "proposed"
	TrialStatusRunning     = "running"
	TrialStatusScored      = "scored" // trial.finished: scored, keep/discard not yet decided
	TrialStatusKept        = "kept"
	TrialStatusDiscarded   = "discarded"
	TrialStatusFailed      = "failed"
	TrialStatusInterrupted = "interrupted"
)

// OutputTail is how much of a running cell's output a snapshot keeps.
const OutputTail = 2000

// Snapshot is the fold of a journal's events: everything a dashboard, `trialbook
// status` and resume need. It is JSON for the panel (docs/api.md).
type Snapshot struct {
	Seq       int64           `json:"seq"` // the last event folded in
	Problem   *ProblemSummary `json:"problem"`
	Status    string          `json:"status"`
	CreatedAt time.Time       `json:"createdAt,omitzero"`
	StartedAt time.Time       `json:"startedAt,omitzero"` // first experiment.started
	UpdatedAt time.Time       `json:"updatedAt,omitzero"` // time of the last event
	// Elapsed is time spent running (paused spans excluded) up to UpdatedAt;
	// while running, a clock adds now - UpdatedAt.
	Elapsed Duration `json:"elapsed"`

	Counts      Counts         `json:"counts"`
	Best        *TrialRow      `json:"best"`
	Leaderboard []TrialRow     `json:"leaderboard"` // best first; unscored after; failed and interrupted last
	Running     []RunningTrial `json:"running"`     // by trial number
	Ensemble    *EnsembleRow   `json:"ensemble"`
	Report      string         `json:"report,omitempty"` // report notebook, relative to the experiment folder
	Usage       Usage          `json:"usage"`            // summed over trials
	Error       string         `json:"error,omitempty"`  // experiment.failed: why

	trials       map[int]*TrialRow
	bestTrial    int
	runningSince time.Time
	elapsed      time.Duration
}

// Counts are the trial counts of a snapshot.
type Counts struct {
	Total     int `json:"total"` // the trial budget (0: none)
	Done      int `json:"done"`  // kept + discarded + failed: what the budget counts; never more than Total
	Kept      int `json:"kept"`
	Discarded int `json:"discarded"`
	Failed    int `json:"failed"`
	// Interrupted trials are counted apart from Done: their ideas are
	// proposed again, and they use no budget.
	Interrupted int `json:"interrupted"`
	Running     int `json:"running"`
}

// TrialRow is one trial on the leaderboard.
type TrialRow struct {
	Trial      int       `json:"trial"`
	Title      string    `json:"title"`
	Notebook   string    `json:"notebook"` // relative to the experiment folder
	Status     string    `json:"status"`
	Reason     string    `json:"reason,omitempty"`
	Score      *Score    `json:"score"`
	Duration   Duration  `json:"duration"`
	Usage      *Usage    `json:"usage,omitempty"`
	Agent      string    `json:"agent,omitempty"`
	StartedAt  time.Time `json:"startedAt,omitzero"`
	FinishedAt time.Time `json:"finishedAt,omitzero"`
	Fixes      int       `json:"fixes,omitempty"` // cells an agent fixed after an error
}

// RunningTrial is a trial being executed now.
type RunningTrial struct {
	Trial    int    `json:"trial"`
	Title    string `json:"title"`
	Notebook string `json:"notebook"`
	Cell     *int   `json:"cell"`   // the cell executing now, nil between cells
	Source   string `json:"source"` // its code
	Text     string `json:"text"`   // the tail of its output, at most OutputTail bytes
}

// EnsembleRow is the latest ensemble.updated.
type EnsembleRow struct {
	Score    *Score             `json:"score"`
	Weights  map[string]float64 `json:"weights"`
	Notebook string             `json:"notebook,omitempty"`
	Reason   string             `json:"reason,omitempty"`
}

// Fold folds events, in order, into a snapshot.
func Fold(events []Event) Snapshot {
	s := NewSnapshot()
	for _, e := range events {
		s.Add(e)
	}
	s.Settle()
	return s
}

// NewSnapshot is the snapshot of an empty journal.
func NewSnapshot() Snapshot {
	return Snapshot{Status: StatusCreated, Leaderboard: []TrialRow{}, Running: []RunningTrial{}, trials: map[int]*TrialRow{}}
}

// Apply folds one more event into s. Events at or below s.Seq are ignored, so
// a replay that overlaps is harmless.
func (s *Snapshot) Apply(e Event) {
	s.Add(e)
	s.Settle()
}

// Add folds e in as Apply does but leaves the leaderboard, counts, best and
// usage as they were until Settle: a batch of events then costs one sort of
// the leaderboard, not one per event (a long journal has thousands).
func (s *Snapshot) Add(e Event) {
	if e.Seq != 0 && e.Seq <= s.Seq {
		return
	}
	if s.trials == nil {
		s.rebuildIndex()
	}
	s.Seq = e.Seq
	last := s.UpdatedAt
	if !e.Time.IsZero() {
		s.UpdatedAt = e.Time
	}
	switch e.Type {
	case ExperimentCreated:
		if e.Problem != nil {
			p := *e.Problem
			s.Problem = &p
			s.Counts.Total = p.Trials
		}
		s.CreatedAt = e.Time
	case ExperimentStarted, ExperimentResumed:
		// A run may change the budget (trialbook run --trials N).
		if e.Problem != nil {
			p := *e.Problem
			s.Problem = &p
			s.Counts.Total = p.Trials
		}
		if s.StartedAt.IsZero() {
			s.StartedAt = e.Time
		}
		// A writer killed while running never stopped the clock: its time
		// counts up to its last event.
		s.stopClock(last)
		// A trial left running by a writer that was killed never ends in the
		// journal; a new run supersedes it.
		s.interruptRunning(e.Time, "the experiment was restarted")
		s.Status = StatusRunning
		s.Error = ""
		s.runningSince = e.Time
	case ExperimentPaused, ExperimentFinished, ExperimentFailed:
		s.stopClock(e.Time)
		s.interruptRunning(e.Time, "the experiment stopped")
		s.Status = map[Type]string{ExperimentPaused: StatusPaused, ExperimentFinished: StatusFinished, ExperimentFailed: StatusFailed}[e.Type]
		if e.Type == ExperimentFailed {
			s.Error = firstNonEmpty(e.Reason, e.Evalue)
		}
	case EnsembleUpdated:
		s.Ensemble = &EnsembleRow{Score: e.Score, Weights: e.Weights, Notebook: e.Notebook, Reason: e.Reason}
	case ReportReady:
		s.Report = e.Notebook
	}
	if e.Trial > 0 {
		s.applyTrial(e)
	}
	s.Elapsed = Duration(s.elapsed)
	if s.Status == StatusRunning && !s.runningSince.IsZero() && s.UpdatedAt.After(s.runningSince) {
		s.Elapsed = Duration(s.elapsed + s.UpdatedAt.Sub(s.runningSince))
	}
}

// Settle brings the leaderboard, counts, best and usage up to the events
// added since the last Settle (or Apply).
func (s *Snapshot) Settle() {
	if s.trials == nil {
		s.rebuildIndex()
	}
	s.refresh()
}

func (s *Snapshot) applyTrial(e Event) {
	t := s.trials[e.Trial]
	if t == nil {
		t = &TrialRow{Trial: e.Trial, Status: TrialStatusProposed}
		s.trials[e.Trial] = t
	}
	if e.Title != "" {
		t.Title = e.Title
	}
	if e.Notebook != "" && e.Type != EnsembleUpdated && e.Type != ReportReady {
		t.Notebook = e.Notebook
	}
	if e.Agent != "" {
		t.Agent = e.Agent
	}
	if e.Usage != nil {
		u := *e.Usage // usage on a trial's events is its running total
		t.Usage = &u
	}
	if e.Score != nil && e.Type != EnsembleUpdated {
		t.Score = e.Score
	}
	if e.Duration != 0 && !isCellEvent(e.Type) {
		t.Duration = e.Duration // a cell event's duration is the cell's
	}
	switch e.Type {
	case TrialProposed:
		t.Status = TrialStatusProposed
	case TrialStarted:
		t.Status = TrialStatusRunning
		t.StartedAt = e.Time
		t.Reason = ""
		s.running(t) // listed from its start, before its first cell
	case TrialFinished:
		t.Status = TrialStatusScored
		t.FinishedAt = e.Time
		s.stopRunning(t.Trial)
	case TrialKept, TrialDiscarded, TrialFailed, TrialInterrupted:
		t.Status = map[Type]string{TrialKept: TrialStatusKept, TrialDiscarded: TrialStatusDiscarded, TrialFailed: TrialStatusFailed, TrialInterrupted: TrialStatusInterrupted}[e.Type]
		t.Reason = firstNonEmpty(e.Reason, e.Evalue)
		if t.FinishedAt.IsZero() || e.Type == TrialFailed || e.Type == TrialInterrupted {
			t.FinishedAt = e.Time
		}
		if t.Duration == 0 && !t.StartedAt.IsZero() {
			t.Duration = Duration(e.Time.Sub(t.StartedAt))
		}
		s.stopRunning(t.Trial)
		if e.Best > 0 {
			s.bestTrial = e.Best
		}
	case CellStarted:
		r := s.running(t)
		r.Cell = e.Cell
		r.Source = e.Source
		r.Text = ""
	case CellOutput:
		r := s.running(t)
		if e.Cell != nil {
			r.Cell = e.Cell
		}
		r.Text = tail(e.Text, OutputTail)
	case CellFixed:
		t.Fixes++
		r := s.running(t)
		r.Cell = e.Cell
		r.Source = e.Source
		r.Text = ""
	case CellError:
		r := s.running(t)
		r.Text = tail(firstNonEmpty(e.Text, e.Ename+": "+e.Evalue), OutputTail)
	}
}

// running returns t's entry in the running list, adding it if needed. Cell
// events of a trial not known to be running (a journal that starts mid-trial)
// mark it running.
func (s *Snapshot) running(t *TrialRow) *RunningTrial {
	for i := range s.Running {
		if s.Running[i].Trial == t.Trial {
			s.Running[i].Title, s.Running[i].Notebook = t.Title, t.Notebook
			return &s.Running[i]
		}
	}
	if t.Status == TrialStatusProposed {
		t.Status = TrialStatusRunning
	}
	s.Running = append(s.Running, RunningTrial{Trial: t.Trial, Title: t.Title, Notebook: t.Notebook})
	sort.Slice(s.Running, func(i, j int) bool { return s.Running[i].Trial < s.Running[j].Trial })
	for i := range s.Running {
		if s.Running[i].Trial == t.Trial {
			return &s.Running[i]
		}
	}
	return nil // unreachable
}

func (s *Snapshot) stopRunning(trial int) {
	kept := s.Running[:0]
	for _, r := range s.Running {
		if r.Trial != trial {
			kept = append(kept, r)
		}
	}
	s.Running = kept
}

func (s *Snapshot) interruptRunning(at time.Time, why string) {
	for _, t := range s.trials {
		if t.Status == TrialStatusRunning {
			t.Status = TrialStatusInterrupted
			t.Reason = why
			t.FinishedAt = at
		}
	}
	s.Running = s.Running[:0]
}

func (s *Snapshot) stopClock(at time.Time) {
	if s.Status == StatusRunning && !s.runningSince.IsZero() && at.After(s.runningSince) {
		s.elapsed += at.Sub(s.runningSince)
	}
	s.runningSince = time.Time{}
}

// refresh recomputes the leaderboard, counts, best and usage from the trials.
func (s *Snapshot) refresh() {
	dir := ""
	if s.Problem != nil {
		dir = s.Problem.Direction
	}
	rows := make([]TrialRow, 0, len(s.trials))
	c := Counts{Total: s.Counts.Total}
	var usage Usage
	for _, t := range s.trials {
		rows = append(rows, *t)
		switch t.Status {
		case TrialStatusKept:
			c.Kept++
		case TrialStatusDiscarded:
			c.Discarded++
		case TrialStatusFailed:
			c.Failed++
		case TrialStatusInterrupted:
			c.Interrupted++
		}
		if t.Usage != nil {
			usage.InputTokens += t.Usage.InputTokens
			usage.OutputTokens += t.Usage.OutputTokens
			usage.CostUSD += t.Usage.CostUSD
		}
	}
	c.Done = c.Kept + c.Discarded + c.Failed
	c.Running = len(s.Running)
	sort.SliceStable(rows, func(i, j int) bool { return rowLess(rows[i], rows[j], dir) })
	s.Leaderboard = rows
	s.Counts = c
	s.Usage = usage
	s.Best = nil
	if b := s.trials[s.bestTrial]; b != nil && b.Score != nil {
		row := *b
		s.Best = &row
		return
	}
	// No decision named the best: take the best-scoring kept trial.
	for _, r := range rows {
		if r.Status == TrialStatusKept && r.Score != nil {
			row := r
			s.Best = &row
			return
		}
	}
}

// rank orders the leaderboard's groups: scored trials, then those still
// going, then failed and interrupted ones.
func rank(t TrialRow) int {
	switch {
	case t.Status == TrialStatusFailed || t.Status == TrialStatusInterrupted:
		return 2
	case t.Score != nil:
		return 0
	default:
		return 1
	}
}

func rowLess(a, b TrialRow, dir string) bool {
	ra, rb := rank(a), rank(b)
	if ra != rb {
		return ra < rb
	}
	if ra == 0 && a.Score.CV != b.Score.CV {
		d := dir
		if a.Score.Direction != "" {
			d = a.Score.Direction
		}
		if d == "maximize" {
			return a.Score.CV > b.Score.CV
		}
		return a.Score.CV < b.Score.CV
	}
	return a.Trial < b.Trial
}

// rebuildIndex restores the trial index of a snapshot decoded from JSON, so
// Apply can continue from it.
func (s *Snapshot) rebuildIndex() {
	s.trials = map[int]*TrialRow{}
	for _, r := range s.Leaderboard {
		row := r
		s.trials[r.Trial] = &row
	}
	if s.Best != nil {
		s.bestTrial = s.Best.Trial
	}
	s.elapsed = time.Duration(s.Elapsed)
	if s.Status == StatusRunning {
		s.elapsed = 0
		s.runningSince = s.UpdatedAt.Add(-time.Duration(s.Elapsed))
	}
}

// Trial returns one trial's row.
func (s *Snapshot) Trial(n int) (TrialRow, bool) {
	if s.trials == nil {
		s.rebuildIndex()
	}
	t, ok := s.trials[n]
	if !ok {
		return TrialRow{}, false
	}
	return *t, true
}

func isCellEvent(t Type) bool {
	switch t {
	case CellStarted, CellOutput, CellFinished, CellError, CellFixed:
		return true
	}
	return false
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[len(s)-n:]
	// Do not start in the middle of a UTF-8 sequence.
	for i := 0; i < len(s) && i < 4; i++ {
		if s[i]&0xC0 != 0x80 {
			return s[i:]
		}
	}
	return s
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" && s != ": " {
			return s
		}
	}
	return ""
}

// Clone is a copy of s that later Adds to s do not change, for handing a
// shared snapshot to a reader.
func (s *Snapshot) Clone() Snapshot {
	c := *s
	// Settle makes a new leaderboard each time and replaces Problem, Best and
	// Ensemble rather than changing them; Running and the index change in place.
	c.Running = append([]RunningTrial{}, s.Running...)
	c.trials = nil // rebuilt from c's leaderboard if c is added to
	return c
}
