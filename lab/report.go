package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"trialbook/ipynb"
	"trialbook/journal"
	"trialbook/kernel"
	"trialbook/runner"
	"trialbook/specs"
)

// The report's files, relative to the experiment folder.
const (
	ReportNotebook = "report.ipynb"
	// ReportData is what the report's cells read: the journal folded by the
	// harness when it wrote the report, with the ensemble and the feature
	// decisions. Re-running the notebook reads the same file.
	ReportData = "report.json"
)

// ReportOptions say how to write an experiment's report.
type ReportOptions struct {
	Dir  string       // the experiment folder
	Spec *kernel.Spec // the kernel that executes the report
	// Problem, when set, adds what the journal does not hold: whether the
	// problem asks for feature research and explainability, its id columns.
	// Without it both sections are written.
	Problem *specs.Problem
	// CellTimeout bounds each report cell; 0 means 10 minutes.
	CellTimeout time.Duration
	// Append writes an event to the experiment's journal. Nil: the report
	// takes the folder's lock and appends itself; when the experiment is
	// running elsewhere (the lock is held), the report is still written but
	// the journal is left alone and Result.JournalSkipped says why.
	Append func(journal.Event) (journal.Event, error)
	Log    zerolog.Logger
}

// ReportResult is what WriteReport did.
type ReportResult struct {
	Path     string    // report.ipynb
	Ensemble *Ensemble // nil when none could be built; EnsembleNote says why
	// EnsembleNote says why there is no ensemble, when there is none.
	EnsembleNote   string
	Predict        PredictModel // what trialbook predict will use
	JournalSkipped string       // why no events were appended, if none were
}

// WriteReport builds the ensemble, writes report.json and report.ipynb, and
// executes the notebook in a fresh kernel started in the experiment folder;
// then records ensemble.updated (when the ensemble changed) and
// report.ready. The executed notebook is saved after every cell, so a
// failing cell leaves a notebook that shows the failure.
func WriteReport(ctx context.Context, opts ReportOptions) (*ReportResult, error) {
	dir := opts.Dir
	events, err := journal.ReadFile(filepath.Join(dir, JournalFile))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s has no %s: run the experiment first (trialbook run %s)", dir, JournalFile, dir)
		}
		return nil, err
	}
	snap := journal.Fold(events)
	if snap.Problem == nil {
		return nil, fmt.Errorf("%s: no experiment.created event", filepath.Join(dir, JournalFile))
	}
	res := &ReportResult{Path: filepath.Join(dir, ReportNotebook)}

	appendEv := opts.Append
	if appendEv == nil {
		unlock, err := journal.Lock(dir)
		switch {
		case errors.Is(err, journal.ErrLocked):
			res.JournalSkipped = fmt.Sprintf("the experiment is running (%v): the report was written but not recorded in the journal", err)
		case err != nil:
			return nil, err
		default:
			defer unlock()
			j, err := journal.Open(filepath.Join(dir, JournalFile))
			if err != nil {
				return nil, err
			}
			defer j.Close()
			appendEv = j.Append
			events = j.Events() // the lock is held: nothing changes under us now
			snap = journal.Fold(events)
		}
	}

	ens, err := buildEnsemble(dir, &snap)
	if err != nil {
		res.EnsembleNote = err.Error()
	} else {
		res.Ensemble = ens
		if appendEv != nil && !ens.sameAs(lastEnsemble(events)) {
			ev, err := appendEv(ens.Event())
			if err != nil {
				return nil, fmt.Errorf("journal: %w", err)
			}
			events = append(events, ev)
			snap.Apply(ev)
		}
	}
	pm, perr := ChoosePredictModel(dir, events, &snap)
	res.Predict = pm

	data, err := gatherReport(dir, opts.Problem, events, &snap, res, perr)
	if err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(data, "", " ")
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(filepath.Join(dir, ReportData), append(b, '\n')); err != nil {
		return nil, err
	}
	nb := reportNotebook(data, opts.Spec)
	if err := executeReport(ctx, opts, nb, res.Path); err != nil {
		return res, err
	}
	if appendEv != nil {
		if _, err := appendEv(journal.Event{Type: journal.ReportReady, Notebook: ReportNotebook}); err != nil {
			return res, fmt.Errorf("journal: %w", err)
		}
	}
	return res, nil
}

func executeReport(ctx context.Context, opts ReportOptions, nb *ipynb.Notebook, path string) error {
	if opts.Spec == nil {
		return errors.New("no kernelspec to execute the report with")
	}
	// Sandboxed where the trials are: the experiment folder read-only (the
	// report scores the holdout for people, so it reads the sealed labels;
	// with no network and nothing writable nothing it holds can leave).
	ko, _, err := harnessKernelOptions(ctx, opts.Problem, opts.Dir, []string{opts.Dir}, nil)
	if err != nil {
		return err
	}
	ko.Logger = opts.Log
	k, err := kernel.Start(ctx, opts.Spec, ko)
	if err != nil {
		return fmt.Errorf("starting a kernel for the report: %w", err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = k.Shutdown(sctx)
	}()
	timeout := opts.CellTimeout
	if timeout <= 0 {
		timeout = 10 * time.Minute
	}
	if err := runner.Run(ctx, k, nb, runner.Options{Timeout: timeout, Path: path}); err != nil {
		return fmt.Errorf("executing %s: %w", path, err)
	}
	return nil
}

// reportData is report.json.
type reportData struct {
	Problem   reportProblem     `json:"problem"`
	Written   time.Time         `json:"written"`
	Status    string            `json:"status"`
	Reason    string            `json:"reason,omitempty"` // why the experiment ended
	ElapsedS  float64           `json:"elapsedSeconds"`
	Counts    journal.Counts    `json:"counts"`
	Usage     journal.Usage     `json:"usage"`
	LLM       bool              `json:"llm"` // an agent that spends tokens
	Trials    []reportTrial     `json:"trials"`
	Best      *reportTrial      `json:"best"`
	Ensemble  *reportEnsemble   `json:"ensemble"`
	Predict   reportPredict     `json:"predict"`
	Holdout   *reportHoldout    `json:"holdout"`
	Features  *featureResearch  `json:"features,omitempty"`
	Explain   *reportExplain    `json:"explain,omitempty"`
	Artifacts map[string]string `json:"artifacts"` // data view files the cells read
}

type reportProblem struct {
	Name            string   `json:"name"`
	Task            string   `json:"task"`
	Target          string   `json:"target"`
	Metric          string   `json:"metric"`
	Direction       string   `json:"direction"`
	Validation      string   `json:"validation"`
	Agent           string   `json:"agent"`
	FeatureResearch bool     `json:"featureResearch"`
	Explain         bool     `json:"explain"`
	IDs             []string `json:"ids,omitempty"`
	Features        []string `json:"features"`
	Classes         []any    `json:"classes,omitempty"`
}

type reportTrial struct {
	Trial     int               `json:"trial"`
	Title     string            `json:"title"`
	Status    string            `json:"status"`
	Reason    string            `json:"reason,omitempty"`
	CV        *float64          `json:"cv"`
	CVStd     *float64          `json:"cvStd"`
	Holdout   *float64          `json:"holdout"`
	DurationS float64           `json:"durationSeconds"`
	Notebook  string            `json:"notebook"`
	Tokens    int               `json:"tokens,omitempty"`
	CostUSD   float64           `json:"costUSD,omitempty"`
	Tags      map[string]string `json:"tags,omitempty"`
	Model     string            `json:"model,omitempty"` // trials/NNN/model.pkl when saved
	Decided   int64             `json:"decidedSeq,omitempty"`
}

type reportEnsemble struct {
	Weights    []reportWeight `json:"weights"`
	CV         float64        `json:"cv"`
	CVStd      float64        `json:"cvStd"`
	Folds      []float64      `json:"folds"`
	Holdout    *float64       `json:"holdout"`
	Used       bool           `json:"used"`
	Reason     string         `json:"reason"`
	Best       int            `json:"best"`
	BestCV     float64        `json:"bestCV"`
	BestFolds  []float64      `json:"bestFolds"`
	BestHold   *float64       `json:"bestHoldout"`
	Trajectory []float64      `json:"trajectory"`
	Considered []int          `json:"considered"`
}

type reportWeight struct {
	Trial  int     `json:"trial"`
	Title  string  `json:"title"`
	Weight float64 `json:"weight"`
	CV     float64 `json:"cv"`
}

type reportPredict struct {
	Kind    string         `json:"kind"` // ensemble, trial, or none
	Trials  []reportWeight `json:"trials"`
	Note    string         `json:"note"`
	Command string         `json:"command"`
}

type reportExplain struct {
	Trial    int    `json:"trial"`    // the best trial
	Model    string `json:"model"`    // its trials/NNN/model.pkl
	Labels   string `json:"labels"`   // the sealed labels file
	Disabled string `json:"disabled"` // why explainability cannot run, if it cannot
	// Members are the models explained, with their weights: the best
	// trial's alone, or the ensemble's when predict uses the ensemble.
	Members  []reportMember `json:"members"`
	What     string         `json:"what"`     // "trial 3's model", "the ensemble of trials 5, 3"
	Recorded *float64       `json:"recorded"` // the holdout score the harness recorded for it
}

type reportMember struct {
	Trial  int     `json:"trial"`
	Weight float64 `json:"weight"`
	Model  string  `json:"model"`
}

func gatherReport(dir string, p *specs.Problem, events []journal.Event, snap *journal.Snapshot, res *ReportResult, predictErr error) (*reportData, error) {
	ps := snap.Problem
	d := &reportData{
		Problem: reportProblem{Name: ps.Name, Task: ps.Task, Target: ps.Target, Metric: ps.Metric, Direction: ps.Direction,
			Validation: ps.Validation, Agent: ps.Agent, FeatureResearch: true, Explain: true},
		Written: time.Now().UTC().Truncate(time.Second), Status: snap.Status, ElapsedS: time.Duration(snap.Elapsed).Seconds(),
		Counts: snap.Counts, Usage: snap.Usage, LLM: snap.Usage.InputTokens+snap.Usage.OutputTokens > 0,
		Artifacts: map[string]string{"train": viewTrainFile, "holdout": viewHoldoutFile, "view": viewMetaFile, "labels": sealedLabels},
	}
	if p != nil {
		d.Problem.FeatureResearch, d.Problem.Explain, d.Problem.IDs = p.FeatureResearch, p.Explain, p.Features.IDs
	}
	view, err := LoadData(dir)
	if err != nil {
		return nil, fmt.Errorf("%s: the data view: %w", dir, err)
	}
	d.Problem.Features = view.View.Features
	for _, c := range view.View.Classes {
		var v any
		_ = json.Unmarshal(c, &v)
		d.Problem.Classes = append(d.Problem.Classes, v)
	}
	for _, e := range events {
		if e.Type == journal.ExperimentFinished || e.Type == journal.ExperimentPaused || e.Type == journal.ExperimentFailed {
			d.Reason = e.Reason
		}
	}
	tags := map[int]map[string]string{}
	decided := map[int]int64{}
	for _, e := range events {
		switch e.Type {
		case journal.TrialProposed:
			var pr proposal
			_ = json.Unmarshal(e.Data, &pr)
			tags[e.Trial] = pr.Tags
		case journal.TrialKept, journal.TrialDiscarded:
			decided[e.Trial] = e.Seq
		}
	}
	rows := append([]journal.TrialRow(nil), snap.Leaderboard...)
	sort.Slice(rows, func(i, j int) bool { return rows[i].Trial < rows[j].Trial })
	byTrial := map[int]*reportTrial{}
	for _, r := range rows {
		t := reportTrial{Trial: r.Trial, Title: r.Title, Status: r.Status, Reason: r.Reason, Notebook: r.Notebook,
			DurationS: time.Duration(r.Duration).Seconds(), Tags: tags[r.Trial], Decided: decided[r.Trial]}
		if r.Score != nil {
			cv, sd := r.Score.CV, r.Score.CVStd
			t.CV, t.CVStd, t.Holdout = &cv, &sd, r.Score.Holdout
		}
		if r.Usage != nil {
			t.Tokens, t.CostUSD = r.Usage.InputTokens+r.Usage.OutputTokens, r.Usage.CostUSD
		}
		if _, err := os.Stat(filepath.Join(TrialArtifacts(dir, r.Trial), "model.pkl")); err == nil {
			t.Model = filepath.ToSlash(filepath.Join("trials", fmt.Sprintf("%03d", r.Trial), "model.pkl"))
		}
		d.Trials = append(d.Trials, t)
	}
	for i := range d.Trials {
		byTrial[d.Trials[i].Trial] = &d.Trials[i]
	}
	if snap.Best != nil {
		d.Best = byTrial[snap.Best.Trial]
	}
	title := func(n int) string {
		if t := byTrial[n]; t != nil {
			return t.Title
		}
		return ""
	}
	cvOf := func(n int) float64 {
		if t := byTrial[n]; t != nil && t.CV != nil {
			return *t.CV
		}
		return 0
	}
	if e := res.Ensemble; e != nil {
		re := &reportEnsemble{CV: e.Score.CV, CVStd: e.Score.CVStd, Folds: e.Score.Folds, Holdout: e.Score.Holdout,
			Used: e.Used, Reason: e.Reason, Best: e.Best, Trajectory: e.Trajectory, Considered: e.Considered}
		if e.BestScore != nil {
			re.BestCV, re.BestFolds, re.BestHold = e.BestScore.CV, e.BestScore.Folds, e.BestScore.Holdout
		}
		for _, w := range e.SortedWeights() {
			re.Weights = append(re.Weights, reportWeight{Trial: w.Trial, Title: title(w.Trial), Weight: w.Weight, CV: cvOf(w.Trial)})
		}
		d.Ensemble = re
	}
	d.Predict = reportPredict{Kind: "none", Command: fmt.Sprintf("trialbook predict %s NEW.csv -o predictions.csv", shellQuote(dir))}
	if predictErr != nil {
		d.Predict.Note = predictErr.Error()
	} else {
		d.Predict.Kind = res.Predict.Kind()
		d.Predict.Note = res.Predict.Describe()
		for _, w := range res.Predict.Members {
			d.Predict.Trials = append(d.Predict.Trials, reportWeight{Trial: w.Trial, Title: title(w.Trial), Weight: w.Weight, CV: cvOf(w.Trial)})
		}
	}
	d.Holdout = gatherHoldout(dir, view, events, snap, res.Predict, predictErr, d.Trials)
	if d.Problem.FeatureResearch {
		d.Features = researchFeatures(events, snap, byTrial, dir)
	}
	if d.Problem.Explain {
		x := &reportExplain{Labels: sealedLabels}
		switch {
		case d.Best == nil:
			x.Disabled = "no trial has been kept yet, so there is no best model to explain"
		case d.Best.Model == "":
			x.Trial = d.Best.Trial
			x.Disabled = fmt.Sprintf("trial %d saved no model.pkl (hand_back(oof, holdout, model=...)), so there is no fitted model to explain", d.Best.Trial)
		default:
			x.Trial, x.Model = d.Best.Trial, d.Best.Model
			x.Members = []reportMember{{Trial: d.Best.Trial, Weight: 1, Model: d.Best.Model}}
			x.What, x.Recorded = fmt.Sprintf("trial %d's model", d.Best.Trial), d.Best.Holdout
			if predictErr == nil && res.Predict.Ensemble && res.Ensemble != nil && res.Ensemble.Used {
				// Explain what predict applies: the blend of the ensemble's models.
				x.Members = nil
				var names []string
				for _, m := range res.Predict.Members {
					x.Members = append(x.Members, reportMember{Trial: m.Trial, Weight: m.Weight, Model: filepath.ToSlash(filepath.Join("trials", fmt.Sprintf("%03d", m.Trial), "model.pkl"))})
					names = append(names, fmt.Sprint(m.Trial))
				}
				x.What, x.Recorded = "the ensemble of trials "+strings.Join(names, ", "), res.Ensemble.Score.Holdout
			}
		}
		d.Explain = x
	}
	return d, nil
}

func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r == '/' || r == '.' || r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
