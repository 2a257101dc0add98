package lab

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// HoldoutHeading is the title of the report's holdout evaluation.
const HoldoutHeading = "## How the final model does on the sealed holdout"

// holdoutCells appends the holdout evaluation to the report: the cells
// that draw it, each plot followed by one line that reads it in plain
// words. It says whether it loaded the holdout labels (y_hold), which the
// explainability cells use too.
func holdoutCells(d *reportData, md, code func(string)) (loaded bool) {
	h := d.Holdout
	if h == nil || h.Disabled != "" {
		why := "nothing to evaluate"
		if h != nil {
			why = h.Disabled
		}
		md(HoldoutHeading + "\n\nNot available: " + why + ".")
		return false
	}
	first := h.Models[0]
	var b strings.Builder
	b.WriteString(HoldoutHeading + "\n\n")
	if strings.HasPrefix(first.Role, "predict") {
		fmt.Fprintf(&b, "The model `trialbook predict` applies, **%s**", first.Name)
	} else {
		fmt.Fprintf(&b, "`trialbook predict` cannot run yet (%s); this is what it would apply, **%s**", strings.TrimSuffix(d.Predict.Note, "."), first.Name)
	}
	if len(h.Models) > 1 {
		fmt.Fprintf(&b, ", side by side with the best single trial, **%s**,", h.Models[1].Name)
	} else {
		b.WriteString(",")
	}
	fmt.Fprintf(&b, " on the **%d** sealed holdout rows: rows no model trained on, whose labels no agent was shown. "+
		"Every number here is the harness's: computed in Go, as trials are scored, from the models' saved holdout predictions (%s) "+
		"and the sealed labels (`%s`). The plots draw the same predictions. No agent is shown any of it.\n\n"+
		"The table has every metric the task allows; **%s** is the one the experiment optimised.",
		h.Rows, holdoutFiles(h), d.Artifacts["labels"], d.Problem.Metric)
	md(b.String())
	code(pyHoldoutLoad)
	md(metricReading(d, h))

	switch {
	case first.Binary != nil:
		code(pyBinaryCurves)
		md(binaryCurvesReading(d, first))
		md("### Confusion matrix\n\nThe threshold: " + first.Binary.ThresholdWhy + ". " + thresholdNote(d, first))
		code(pyBinaryConfusion)
		md(binaryConfusionReading(d, first))
		code(pyCalibration)
		md(calibrationReading(d, first))
	case first.Multiclass != nil:
		md("### Confusion matrix\n\nEach row is a true class, each column the class of highest predicted probability; the second matrix divides each row by its count.")
		code(pyMultiConfusion)
		md(multiConfusionReading(first))
		code(pyPerClass)
		md(perClassReading(first))
		if len(first.Multiclass.TopK) > 0 {
			md("### Top-k accuracy\n\nWith more than five classes, how often the true class is among the k most probable.")
			code(pyTopK)
			md(topKReading(first))
		}
	case first.Regression != nil:
		code(pyPredictedVsTrue)
		md(predictedReading(d, first))
		code(pyResiduals)
		md(residualsReading(first))
		code(pyResidualHist)
		md(residualHistReading(first))
		code(pyDeciles)
		md(decilesReading(d, first))
	}
	md("### CV against holdout\n\nEvery kept trial's CV score against its holdout score: points on the dotted line did as well on unseen rows as in cross-validation, and the gap between the two tells whether the ranking by CV generalised.")
	code(pyCVHoldout)
	md(cvHoldoutReading(d, h))
	return true
}

// holdoutFiles lists the saved predictions the section reads.
func holdoutFiles(h *reportHoldout) string {
	var files []string
	for _, m := range h.Models {
		for _, mb := range m.Members {
			if f := "`" + mb.Holdout + "`"; !slices.Contains(files, f) {
				files = append(files, f)
			}
		}
	}
	return strings.Join(files, ", ")
}

// extremes returns the items of xs (not empty) with the smallest and the
// largest key, the first of ties.
func extremes[T any](xs []T, key func(T) float64) (lo, hi T) {
	lo, hi = xs[0], xs[0]
	for _, x := range xs[1:] {
		if key(x) < key(lo) {
			lo = x
		}
		if key(x) > key(hi) {
			hi = x
		}
	}
	return lo, hi
}

func g4(v float64) string { return fmt.Sprintf("%.4g", v) }

func pct(v float64) string { return fmt.Sprintf("%.1f%%", 100*v) }

// metricOf returns the model's value of a metric, if defined.
func (x holdoutModel) metricOf(name string) (float64, bool) {
	for _, r := range x.Metrics {
		if r.Name == name && r.Value != nil {
			return *r.Value, true
		}
	}
	return 0, false
}

// agreesWithJournal says how the table's value of the optimised metric
// compares with the holdout score the journal recorded for the model.
func agreesWithJournal(x holdoutModel, metric string) string {
	v, ok := x.metricOf(metric)
	switch {
	case x.Journal == nil:
		return "the journal recorded no holdout score for it"
	case !ok:
		return fmt.Sprintf("the journal recorded %s, which the harness could not compute again", g4(*x.Journal))
	case math.Abs(v-*x.Journal) <= 1e-9*math.Max(1, math.Abs(v)):
		return "the score the journal recorded"
	default:
		return fmt.Sprintf("**the journal recorded %.6g**: the saved predictions changed after they were scored", *x.Journal)
	}
}

func metricReading(d *reportData, h *reportHoldout) string {
	m := d.Problem.Metric
	first := h.Models[0]
	v, _ := first.metricOf(m)
	s := fmt.Sprintf("*Reading:* on unseen rows %s scores **%s %.6g**, %s", first.Name, m, v, agreesWithJournal(first, m))
	if len(h.Models) > 1 {
		o := h.Models[1]
		w, _ := o.metricOf(m)
		better := (w < v) == (d.Problem.Direction == "maximize")
		word := "better"
		if !better {
			word = "worse"
		}
		if w == v {
			word = "the same as"
			s += fmt.Sprintf("; %s scores %.6g (%s), %s it", o.Name, w, strings.TrimPrefix(agreesWithJournal(o, m), "the score "), word)
		} else {
			s += fmt.Sprintf("; %s scores %.6g (%s), so the model predict applies does %s on the holdout by %s", o.Name, w, strings.TrimPrefix(agreesWithJournal(o, m), "the score "), word, g4(math.Abs(v-w)))
		}
	}
	return s + "."
}

func binaryCurvesReading(d *reportData, x holdoutModel) string {
	b := x.Binary
	neg := fmt.Sprint(d.Problem.Classes[0])
	return fmt.Sprintf("*Reading:* AUC %s means a randomly chosen %v row gets a higher probability than a randomly chosen %s row %s of the time (0.5 is chance); "+
		"average precision %s compares with %s, the share of %v rows, which a random ranking would get.",
		g4(b.AUC), b.Positive, neg, pct(b.AUC), g4(b.AP), g4(b.BaseRate), b.Positive)
}

func thresholdNote(d *reportData, x holdoutModel) string {
	if x.Binary.Threshold == 0.5 {
		return "`trialbook predict` labels rows at the same threshold."
	}
	return fmt.Sprintf("`trialbook predict` labels rows at 0.5 and writes the probability beside the label: to act at this threshold, label a row %v when its probability is at least %.4g.", x.Binary.Positive, x.Binary.Threshold)
}

func binaryConfusionReading(d *reportData, x holdoutModel) string {
	b := x.Binary
	neg := fmt.Sprint(d.Problem.Classes[0])
	right := b.Confusion[0][0] + b.Confusion[1][1]
	n := right + b.Confusion[0][1] + b.Confusion[1][0]
	return fmt.Sprintf("*Reading:* at probability ≥ %.4g, %d of %d holdout rows are right (%s); %d %s rows were called %v (false alarms) and %d %v rows were missed: precision %s, recall %s, F1 %s.",
		b.Threshold, right, n, pct(b.Accuracy), b.Confusion[0][1], neg, b.Positive, b.Confusion[1][0], b.Positive, g4(b.Precision), g4(b.Recall), g4(b.F1))
}

func calibrationReading(d *reportData, x holdoutModel) string {
	b := x.Binary
	// The bin that adds most to the calibration error: a wide gap on one
	// row says little.
	worst := b.Calibration[0]
	for _, c := range b.Calibration {
		if float64(c.Count)*math.Abs(c.Observed-c.MeanPredicted) > float64(worst.Count)*math.Abs(worst.Observed-worst.MeanPredicted) {
			worst = c
		}
	}
	says := "overstates"
	if worst.Observed > worst.MeanPredicted {
		says = "understates"
	}
	return fmt.Sprintf("*Reading:* the predicted probabilities are off from the observed shares by %s on average (expected calibration error; 0 is perfect); the largest share of that error comes from the %d rows predicted between %.1f and %.1f, where %s were %v against %s predicted: the model %s the chance of %v there.",
		g4(b.ECE), worst.Count, worst.Lo, worst.Hi, pct(worst.Observed), b.Positive, pct(worst.MeanPredicted), says, b.Positive)
}

func multiConfusionReading(x holdoutModel) string {
	mc := x.Multiclass
	n, right := 0, 0
	bi, bj, bn := -1, -1, 0
	for i, row := range mc.Confusion {
		for j, v := range row {
			n += v
			if i == j {
				right += v
			} else if v > bn {
				bi, bj, bn = i, j, v
			}
		}
	}
	s := fmt.Sprintf("*Reading:* %d of %d holdout rows get their true class (%s).", right, n, pct(mc.Accuracy))
	if bi < 0 {
		return s + " There are no mistakes to speak of."
	}
	return s + fmt.Sprintf(" The most common mistake is class %v taken for class %v: %d rows, %s of class %v's %d rows.",
		mc.Classes[bi], mc.Classes[bj], bn, pct(mc.Normalised[bi][bj]), mc.Classes[bi], mc.PerClass[bi].Support)
}

func perClassReading(x holdoutModel) string {
	lo, hi := extremes(x.Multiclass.PerClass, func(c classScores) float64 { return c.F1 })
	return fmt.Sprintf("*Reading:* the hardest class is class %v (F1 %s: precision %s, recall %s over %d rows); the easiest is class %v (F1 %s).",
		lo.Class, g4(lo.F1), g4(lo.Precision), g4(lo.Recall), lo.Support, hi.Class, g4(hi.F1))
}

func topKReading(x holdoutModel) string {
	mc := x.Multiclass
	var parts []string
	for _, t := range mc.TopK {
		parts = append(parts, fmt.Sprintf("among the %d most probable for %s", t.K, pct(t.Accuracy)))
	}
	return fmt.Sprintf("*Reading:* the true class is the most probable one for %s of the rows, %s.", pct(mc.Accuracy), strings.Join(parts, " and "))
}

func predictedReading(d *reportData, x holdoutModel) string {
	r := x.Regression
	s := "*Reading:* points on the dotted line are predicted exactly"
	if r2, ok := x.metricOf("r2"); ok {
		s += fmt.Sprintf("; R² %s: the model accounts for %s of the spread of %s on unseen rows", g4(r2), pct(max(r2, 0)), d.Problem.Target)
	}
	lo, hi := r.Deciles[0], r.Deciles[len(r.Deciles)-1]
	return s + fmt.Sprintf(". On the lowest tenth of true values it is off by %+.4g on average and on the highest tenth by %+.4g%s.",
		lo.Bias, hi.Bias, shrinks(lo.Bias, hi.Bias))
}

// shrinks says when predictions are pulled towards the mean: too high at the
// bottom and too low at the top.
func shrinks(low, high float64) string {
	if low > 0 && high < 0 {
		return ": predictions are pulled towards the middle, as most models' are"
	}
	return ""
}

func residualsReading(x holdoutModel) string {
	r := x.Regression
	trend := "about the same size across the range"
	switch {
	case r.MAEHighPredicted > 1.25*r.MAELowPredicted:
		trend = "larger for larger predictions"
	case r.MAELowPredicted > 1.25*r.MAEHighPredicted:
		trend = "larger for smaller predictions"
	}
	return fmt.Sprintf("*Reading:* the errors are %s: the mean absolute error is %s on the half of rows with the larger predictions and %s on the other half.",
		trend, g4(r.MAEHighPredicted), g4(r.MAELowPredicted))
}

func residualHistReading(x holdoutModel) string {
	r := x.Regression
	bias := "slightly high"
	if r.MeanResidual < 0 {
		bias = "slightly low"
	}
	if mae, ok := x.metricOf("mae"); ok && math.Abs(r.MeanResidual) > 0.25*mae {
		bias = strings.TrimPrefix(bias, "slightly ")
	}
	return fmt.Sprintf("*Reading:* the residuals average %+.4g, so predictions run %s on average; 90%% of them lie between %+.4g and %+.4g.",
		r.MeanResidual, bias, r.ResidualP05, r.ResidualP95)
}

func decilesReading(d *reportData, x holdoutModel) string {
	lo, hi := extremes(x.Regression.Deciles, func(d decileError) float64 { return d.MAE })
	return fmt.Sprintf("*Reading:* the error is largest in tenth %d of the target (%s %s to %s: mean absolute error %s) and smallest in tenth %d (%s to %s: %s).",
		hi.Decile, d.Problem.Target, g4(hi.Lo), g4(hi.Hi), g4(hi.MAE), lo.Decile, g4(lo.Lo), g4(lo.Hi), g4(lo.MAE))
}

func cvHoldoutReading(d *reportData, h *reportHoldout) string {
	if len(h.Kept) == 0 {
		return "*Reading:* no kept trial has a holdout score to compare."
	}
	gap := h.Kept[0]
	for _, k := range h.Kept {
		if math.Abs(k.Holdout-k.CV) > math.Abs(gap.Holdout-gap.CV) {
			gap = k
		}
	}
	gapText := fmt.Sprintf("trial %d (%s) has the largest gap: CV %s, holdout %s", gap.Trial, gap.Title, g4(gap.CV), g4(gap.Holdout))
	if len(h.Kept) == 1 {
		return fmt.Sprintf("*Reading:* only one trial was kept, so there is no ranking to check; %s.", strings.Replace(gapText, " has the largest gap", "", 1))
	}
	if h.Pairs == 1 {
		order := "the opposite order"
		if h.Concordant == 1 {
			order = "the same order"
		}
		return fmt.Sprintf("*Reading:* the two kept trials are in %s on the holdout as by CV; %s.", order, gapText)
	}
	return fmt.Sprintf("*Reading:* of the %d pairs of kept trials with different CV scores, %d are in the same order on the holdout as by CV; %s.", h.Pairs, h.Concordant, gapText)
}
