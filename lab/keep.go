package lab

import (
	"fmt"
	"math"

	"trialbook/journal"
)

// KeepK is how many standard errors of the paired fold differences a trial
// must improve on the best by to be kept.
const KeepK = 1.0

// Decide says whether a scored trial beats the best so far by more than
// noise. The comparison is paired on the shared folds: with d_i the
// improvement on fold i (best minus candidate when minimising), the trial is
// kept when mean(d) > KeepK * sd(d)/sqrt(n), i.e. the mean improvement is
// larger than its own standard error. With no best yet, the trial is kept.
// With repeated folds the scores paired are those of round 1's folds
// (crossValidate says why).
func Decide(m Metric, cand *journal.Score, bestTrial int, best *journal.Score) (keep bool, reason string) {
	if best == nil {
		return true, "first scored trial: it becomes the best"
	}
	if len(best.Folds) != len(cand.Folds) || len(cand.Folds) < 2 {
		// Without paired folds, fall back to the means.
		if m.Better(cand.CV, best.CV) {
			return true, fmt.Sprintf("CV %.6g beats trial %d's %.6g (no paired folds to test noise)", cand.CV, bestTrial, best.CV)
		}
		return false, fmt.Sprintf("CV %.6g does not beat trial %d's %.6g", cand.CV, bestTrial, best.CV)
	}
	p := PairFolds(m, cand, best)
	detail := fmt.Sprintf("CV %.6g vs trial %d's %.6g: mean fold improvement %.4g, standard error %.4g, better on %d of %d folds", cand.CV, bestTrial, best.CV, p.Mean, p.SE, p.Wins, len(p.Improvements))
	if p.Beats() {
		return true, "beats the best by more than noise: " + detail
	}
	if p.Mean > 0 {
		return false, "better on average but within noise: " + detail
	}
	return false, "not better than the best: " + detail
}

// Paired is the keep rule's test of a candidate against a reference on
// their shared folds (see Decide).
type Paired struct {
	// Improvements holds, per fold, how much better the candidate scored
	// (reference minus candidate when minimising): positive is better.
	Improvements []float64 `json:"improvements"`
	Mean         float64   `json:"mean"` // their mean
	SE           float64   `json:"se"`   // its standard error, sd/sqrt(n)
	Wins         int       `json:"wins"` // folds where the candidate is better
	K            float64   `json:"k"`    // KeepK: standard errors the mean must exceed
}

// Beats reports whether the mean improvement is positive and larger than K
// standard errors: what keeps a trial.
func (p Paired) Beats() bool { return p.Mean > 0 && p.Mean > p.K*p.SE }

// PairFolds pairs cand's fold scores with ref's. Both must have the same
// number of folds, at least 2 (Decide falls back to the means otherwise).
func PairFolds(m Metric, cand, ref *journal.Score) Paired {
	n := float64(len(cand.Folds))
	p := Paired{Improvements: make([]float64, len(cand.Folds)), K: KeepK}
	d := p.Improvements
	for i := range d {
		d[i] = ref.Folds[i] - cand.Folds[i]
		if m.Maximize {
			d[i] = -d[i]
		}
		p.Mean += d[i]
	}
	p.Mean /= n
	var ss float64
	for _, v := range d {
		ss += (v - p.Mean) * (v - p.Mean)
	}
	p.SE = math.Sqrt(ss/(n-1)) / math.Sqrt(n)
	for _, v := range d {
		if v > 0 {
			p.Wins++
		}
	}
	return p
}

// ScoreTrial computes the metric per fold on the out-of-fold predictions and
// on the holdout (see crossValidate for repeated folds).
func ScoreTrial(m Metric, d *Data, oof, holdout Array) (*journal.Score, error) {
	width := 1
	if d.View.Task == "multiclass" {
		width = len(d.View.Classes)
	}
	check := func(name string, a Array, rows int) (Predictions, error) {
		switch {
		case width == 1 && len(a.Shape) == 2 && a.Shape[1] == 1:
		case width == 1 && len(a.Shape) != 1:
			return Predictions{}, fmt.Errorf("%s predictions have shape %v, want (%d,): one number per row", name, a.Shape, rows)
		case width > 1 && (len(a.Shape) != 2 || a.Shape[1] != width):
			return Predictions{}, fmt.Errorf("%s predictions have shape %v, want (%d, %d): one probability per class", name, a.Shape, rows, width)
		}
		if a.Shape[0] != rows {
			return Predictions{}, fmt.Errorf("%s predictions have %d rows, want %d", name, a.Shape[0], rows)
		}
		return Predictions{Values: a.Data, Width: width}, nil
	}
	po, err := check("out-of-fold", oof, d.View.Rows)
	if err != nil {
		return nil, err
	}
	ph, err := check("holdout", holdout, d.View.HoldoutRows)
	if err != nil {
		return nil, err
	}
	s := &journal.Score{Metric: m.Name, Direction: "minimize"}
	if m.Maximize {
		s.Direction = "maximize"
	}
	if s.CV, s.Folds, s.CVStd, err = crossValidate(m, d, po); err != nil {
		return nil, err
	}
	if d.View.HoldoutRows > 0 {
		v, err := m.Score(d.Holdout, ph)
		if err != nil {
			return nil, fmt.Errorf("holdout: %w", err)
		}
		s.Holdout = &v
	}
	return s, nil
}

// crossValidate scores out-of-fold predictions on the view's folds: the CV,
// the per-fold scores the keep rule pairs, and their standard deviation.
//
// Without repeats the folds are scored one by one and CV is their mean, as
// it has always been. With validation.repeat N the trial hands back each
// row's out-of-fold prediction averaged over the N rounds, so there is one
// prediction a row and no per-round OOF to score: CV is the metric on the
// averaged predictions over every validated row. The per-fold scores come
// from round 1's K folds only: folds of one round are disjoint, so their
// differences between two trials are what Decide's standard error assumes;
// a fold of round 2 overlaps every fold of round 1 and adding it would make
// the paired differences look more certain than they are. The ± std is
// their spread, the noise between folds that the keep rule weighs.
func crossValidate(m Metric, d *Data, p Predictions) (cv float64, folds []float64, std float64, err error) {
	for f, fold := range d.FirstRound() {
		t, sp := subset(d.Train, p, fold.Valid)
		v, err := m.Score(t, sp)
		if err != nil {
			return 0, nil, 0, fmt.Errorf("fold %d: %w", f+1, err)
		}
		folds = append(folds, v)
	}
	var mean float64
	for _, v := range folds {
		mean += v
	}
	mean /= float64(len(folds))
	for _, v := range folds {
		std += (v - mean) * (v - mean)
	}
	std = math.Sqrt(std / float64(len(folds)))
	if d.Repeats() == 1 {
		return mean, folds, std, nil
	}
	t, sp := subset(d.Train, p, validatedRows(d.Folds, d.View.Rows))
	if cv, err = m.Score(t, sp); err != nil {
		return 0, nil, 0, fmt.Errorf("averaged out-of-fold predictions: %w", err)
	}
	return cv, folds, std, nil
}

// validatedRows lists, in order, the training rows that some fold validates.
func validatedRows(folds []Fold, rows int) []int {
	seen := make([]bool, rows)
	for _, f := range folds {
		for _, i := range f.Valid {
			seen[i] = true
		}
	}
	var out []int
	for i, ok := range seen {
		if ok {
			out = append(out, i)
		}
	}
	return out
}

func subset(t Truth, p Predictions, rows []int) (Truth, Predictions) {
	var st Truth
	sp := Predictions{Width: p.Width, Values: make([]float64, 0, len(rows)*p.Width)}
	if t.K > 0 {
		st.K = t.K
		st.Classes = make([]int, len(rows))
		for j, i := range rows {
			st.Classes[j] = t.Classes[i]
		}
	} else {
		st.Values = make([]float64, len(rows))
		for j, i := range rows {
			st.Values[j] = t.Values[i]
		}
	}
	for _, i := range rows {
		sp.Values = append(sp.Values, p.Values[i*p.Width:(i+1)*p.Width]...)
	}
	return st, sp
}
