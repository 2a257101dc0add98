package lab

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"trialbook/journal"
)

// EnsembleRounds is how many models greedy selection adds (with
// replacement), AutoGluon's default ensemble size.
const EnsembleRounds = 25

// EnsembleCandidates bounds the trials selection considers: the best by CV.
const EnsembleCandidates = 20

// Candidate is one finished trial's saved predictions.
type Candidate struct {
	Trial   int
	Title   string
	Score   *journal.Score // as the journal recorded it
	OOF     Array          // trials/NNN/oof.npy
	Holdout Array          // trials/NNN/holdout.npy
}

// Ensemble is the outcome of greedy ensemble selection over trials.
type Ensemble struct {
	// Weights maps a trial number to its share of the blend; they sum to 1.
	Weights map[int]float64
	// Score is the blend's score, computed like a trial's: per fold on the
	// out-of-fold predictions and on the sealed holdout.
	Score *journal.Score
	// Best is the best single trial the blend was compared with.
	Best      int
	BestScore *journal.Score
	// Used says the blend beats Best by more than noise (Decide's paired
	// rule), so predictions should come from it; Reason says why or why not.
	Used   bool
	Reason string
	// Trajectory is the blend's CV after each round of selection.
	Trajectory []float64
	// Considered are the trials selection could choose from.
	Considered []int
}

// ensembleData is what ensemble.updated carries in Data beyond the fields
// the event already has.
type ensembleData struct {
	Used       bool      `json:"used"`
	Best       int       `json:"best"`
	Considered []int     `json:"considered"`
	Trajectory []float64 `json:"trajectory"`
}

// SelectEnsemble runs greedy ensemble selection with replacement (Caruana et
// al., "Ensemble Selection from Libraries of Models", 2004; as AutoGluon does):
// starting from nothing, each round adds the candidate whose addition gives
// the best CV score of the averaged out-of-fold predictions, a candidate may
// be added again, and the rounds up to the best CV seen are kept. Only the
// out-of-fold predictions choose; the holdout is scored once, at the end.
// The blend is then compared with best (the best single trial, which must be
// among cands) by Decide.
func SelectEnsemble(m Metric, d *Data, cands []Candidate, best int, rounds int) (*Ensemble, error) {
	if len(cands) == 0 {
		return nil, errors.New("no trial has saved predictions to ensemble")
	}
	if rounds < 1 {
		rounds = EnsembleRounds
	}
	var bestCand *Candidate
	for i := range cands {
		c := &cands[i]
		if len(c.OOF.Data) != len(cands[0].OOF.Data) || len(c.Holdout.Data) != len(cands[0].Holdout.Data) {
			return nil, fmt.Errorf("trial %d's predictions have %d out-of-fold and %d holdout values, trial %d's %d and %d",
				c.Trial, len(c.OOF.Data), len(c.Holdout.Data), cands[0].Trial, len(cands[0].OOF.Data), len(cands[0].Holdout.Data))
		}
		if c.Trial == best {
			bestCand = c
		}
	}
	if bestCand == nil {
		return nil, fmt.Errorf("the best trial %d has no saved predictions", best)
	}
	e := &Ensemble{Best: best, Weights: map[int]float64{}}
	for _, c := range cands {
		e.Considered = append(e.Considered, c.Trial)
	}
	sum := make([]float64, len(cands[0].OOF.Data))
	blend := make([]float64, len(sum))
	var chosen []int // indices into cands, one per round
	bestRound, bestCV := -1, 0.0
	for r := 0; r < rounds; r++ {
		pick, pickCV := -1, 0.0
		for i, c := range cands {
			k := float64(len(chosen) + 1)
			for j := range blend {
				blend[j] = (sum[j] + c.OOF.Data[j]) / k
			}
			cv, err := cvScore(m, d, Array{Shape: c.OOF.Shape, Data: blend})
			if err != nil {
				return nil, fmt.Errorf("trial %d: %w", c.Trial, err)
			}
			// Ties go to the earlier candidate: cands come best first.
			if pick < 0 || m.Better(cv, pickCV) {
				pick, pickCV = i, cv
			}
		}
		for j := range sum {
			sum[j] += cands[pick].OOF.Data[j]
		}
		chosen = append(chosen, pick)
		e.Trajectory = append(e.Trajectory, pickCV)
		if bestRound < 0 || m.Better(pickCV, bestCV) {
			bestRound, bestCV = r, pickCV
		}
	}
	chosen = chosen[:bestRound+1]
	counts := map[int]int{}
	for _, i := range chosen {
		counts[i]++
	}
	oof := make([]float64, len(sum))
	hold := make([]float64, len(cands[0].Holdout.Data))
	for i, n := range counts {
		w := float64(n) / float64(len(chosen))
		e.Weights[cands[i].Trial] = w
		for j, v := range cands[i].OOF.Data {
			oof[j] += w * v
		}
		for j, v := range cands[i].Holdout.Data {
			hold[j] += w * v
		}
	}
	score, err := ScoreTrial(m, d, Array{Shape: cands[0].OOF.Shape, Data: oof}, Array{Shape: cands[0].Holdout.Shape, Data: hold})
	if err != nil {
		return nil, fmt.Errorf("scoring the ensemble: %w", err)
	}
	e.Score = score
	e.BestScore = bestCand.Score
	if e.BestScore == nil {
		if e.BestScore, err = ScoreTrial(m, d, bestCand.OOF, bestCand.Holdout); err != nil {
			return nil, fmt.Errorf("trial %d: %w", best, err)
		}
	}
	if len(e.Weights) == 1 {
		for t := range e.Weights {
			e.Reason = fmt.Sprintf("not used: greedy selection kept trial %d alone; no blend of the %d trials considered beats it on CV", t, len(cands))
		}
		return e, nil
	}
	keep, why := Decide(m, score, best, e.BestScore)
	e.Used = keep
	if keep {
		e.Reason = "used: the blend " + why
	} else {
		e.Reason = fmt.Sprintf("not used: the blend is compared with trial %d, the best single trial, and is %s", best, why)
	}
	return e, nil
}

// cvScore is the CV that ScoreTrial gives these out-of-fold predictions.
func cvScore(m Metric, d *Data, oof Array) (float64, error) {
	width := 1
	if len(oof.Shape) == 2 {
		width = oof.Shape[1]
	}
	cv, _, _, err := crossValidate(m, d, Predictions{Values: oof.Data, Width: width})
	return cv, err
}

// SortedWeights lists the weights by trial number.
func (e *Ensemble) SortedWeights() []TrialWeight {
	out := make([]TrialWeight, 0, len(e.Weights))
	for t, w := range e.Weights {
		out = append(out, TrialWeight{Trial: t, Weight: w})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Weight != out[j].Weight {
			return out[i].Weight > out[j].Weight
		}
		return out[i].Trial < out[j].Trial
	})
	return out
}

// TrialWeight is one member of an ensemble.
type TrialWeight struct {
	Trial  int     `json:"trial"`
	Weight float64 `json:"weight"`
}

// Event is the ensemble.updated event that records e.
func (e *Ensemble) Event() journal.Event {
	w := make(map[string]float64, len(e.Weights))
	for t, v := range e.Weights {
		w[strconv.Itoa(t)] = v
	}
	data, _ := json.Marshal(ensembleData{Used: e.Used, Best: e.Best, Considered: e.Considered, Trajectory: e.Trajectory})
	return journal.Event{Type: journal.EnsembleUpdated, Score: e.Score, Weights: w, Reason: e.Reason, Data: data}
}

// sameAs says whether ev already records e, so that writing the report
// twice does not repeat ensemble.updated.
func (e *Ensemble) sameAs(ev *journal.Event) bool {
	if ev == nil || ev.Score == nil || e.Score == nil || len(ev.Weights) != len(e.Weights) || ev.Reason != e.Reason {
		return false
	}
	for t, w := range e.Weights {
		if ev.Weights[strconv.Itoa(t)] != w {
			return false
		}
	}
	return ev.Score.CV == e.Score.CV
}

// LoadCandidates reads the saved predictions of the scored trials (kept or
// discarded) in snap, best CV first, at most limit of them (0: all). Trials
// whose files are missing or unreadable are skipped and named in skipped.
func LoadCandidates(dir string, snap *journal.Snapshot, limit int) (cands []Candidate, skipped []string) {
	for _, r := range snap.Leaderboard { // best first
		if r.Score == nil || (r.Status != journal.TrialStatusKept && r.Status != journal.TrialStatusDiscarded) {
			continue
		}
		if limit > 0 && len(cands) >= limit {
			break
		}
		f := Folder{dir}
		oof, err1 := ReadNpy(f.Artifact(r.Trial, OOFFile))
		hold, err2 := ReadNpy(f.Artifact(r.Trial, HoldoutFile))
		if err := errors.Join(err1, err2); err != nil {
			skipped = append(skipped, fmt.Sprintf("trial %d: %v", r.Trial, firstLineOf(err.Error())))
			continue
		}
		cands = append(cands, Candidate{Trial: r.Trial, Title: r.Title, Score: r.Score, OOF: oof, Holdout: hold})
	}
	return cands, skipped
}

func firstLineOf(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// BuildEnsemble selects an ensemble over the experiment in dir from its
// journal and saved predictions. It reads only; the caller appends
// e.Event() to the journal.
func BuildEnsemble(dir string) (*Ensemble, error) {
	events, err := journal.ReadFile(Folder{dir}.Journal())
	if err != nil {
		return nil, err
	}
	snap := journal.Fold(events)
	return buildEnsemble(dir, &snap)
}

func buildEnsemble(dir string, snap *journal.Snapshot) (*Ensemble, error) {
	if snap.Problem == nil {
		return nil, fmt.Errorf("%s: the journal has no experiment.created event", Folder{dir}.Journal())
	}
	if snap.Best == nil || snap.Best.Score == nil {
		return nil, errors.New("no trial has been kept yet: nothing to ensemble")
	}
	m, err := LookupMetric(snap.Problem.Metric)
	if err != nil {
		return nil, err
	}
	d, err := LoadData(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s has no data view (data/view.json): run the experiment first", dir)
		}
		return nil, err
	}
	return selectFor(dir, snap, m, d)
}

// selectFor selects an ensemble over the scored trials in snap.
func selectFor(dir string, snap *journal.Snapshot, m Metric, d *Data) (*Ensemble, error) {
	cands, skipped := LoadCandidates(dir, snap, EnsembleCandidates)
	found := false
	for _, c := range cands {
		found = found || c.Trial == snap.Best.Trial
	}
	if !found {
		// The best trial may rank below the limit on CV (it was kept by the
		// paired rule); it must be there to compare with.
		all, _ := LoadCandidates(dir, snap, 0)
		for _, c := range all {
			if c.Trial == snap.Best.Trial {
				cands = append(cands, c)
				found = true
			}
		}
	}
	if !found {
		return nil, fmt.Errorf("the best trial %d's predictions cannot be read (%s)", snap.Best.Trial, strings.Join(skipped, "; "))
	}
	return SelectEnsemble(m, d, cands, snap.Best.Trial, EnsembleRounds)
}

// lastEnsemble returns the latest ensemble.updated event, or nil.
func lastEnsemble(events []journal.Event) *journal.Event {
	for i := len(events) - 1; i >= 0; i-- {
		if events[i].Type == journal.EnsembleUpdated {
			return &events[i]
		}
	}
	return nil
}

// CurrentEnsemble says whether the journal's latest ensemble is the one to
// predict with: it was used (it beat the best single trial beyond noise) and
// it was selected against the trial that is still the best. It returns the
// weights by trial number.
func CurrentEnsemble(events []journal.Event, snap *journal.Snapshot) (map[int]float64, *journal.Event, bool) {
	ev := lastEnsemble(events)
	if ev == nil || snap.Best == nil {
		return nil, ev, false
	}
	var d ensembleData
	if err := json.Unmarshal(ev.Data, &d); err != nil || !d.Used || d.Best != snap.Best.Trial {
		return nil, ev, false
	}
	w := map[int]float64{}
	for k, v := range ev.Weights {
		t, err := strconv.Atoi(k)
		if err != nil {
			return nil, ev, false
		}
		w[t] = v
	}
	return w, ev, len(w) > 0
}

// updateEnsemble rebuilds the ensemble after a trial is decided and records
// ensemble.updated when it changed, so that `trialbook status` and the panel
// show it while the experiment runs. Too few trials for an ensemble is not an
// error.
func (e *Experiment) updateEnsemble() error {
	e.mu.Lock()
	snap := e.snap // Leaderboard and Best are replaced, never modified, by Apply
	events := e.j.Events()
	e.mu.Unlock()
	if snap.Best == nil || e.data == nil {
		return nil
	}
	ens, err := selectFor(e.opts.Dir, &snap, e.metric, e.data)
	if err != nil {
		e.opts.Log.Debug().Err(err).Msg("no ensemble")
		return nil
	}
	if len(ens.Considered) < 2 || ens.sameAs(lastEnsemble(events)) {
		return nil // one trial is no ensemble
	}
	_, err = e.emit(ens.Event())
	return err
}
