package specs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// data checks the problem against its dataset: the file, the columns it
// names, and whether the target's values fit the task and the metric. It
// reads the header first and scans only the target column after that.
func (c *checker) data(ctx context.Context, p *Problem) {
	written := p.Data
	p.Data = c.path(written)
	st, err := os.Stat(p.Data)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		c.issues.add("data", "%q does not exist (looked for %s)", written, c.shown(written))
		return
	case err != nil:
		c.issues.add("data", "%q: %v", written, err)
		return
	case st.IsDir():
		c.issues.add("data", "%q is a folder; want a CSV or Parquet file", written)
		return
	}
	kind, err := dataFormat(p.Data)
	if err != nil {
		c.issues.add("data", "%q: %v", written, err)
		return
	}
	cols, err := readColumns(p.Data)
	if err != nil {
		c.issues.add("data", "%v", err)
		return
	}
	file := filepath.Base(p.Data)
	c.column(cols, file, "target", p.Target)
	for _, l := range []struct {
		field string
		names []string
	}{{"features.include", p.Features.Include}, {"features.exclude", p.Features.Exclude}, {"features.ids", p.Features.IDs}} {
		for i, name := range l.names {
			field := fmt.Sprintf("%s[%d]", l.field, i)
			if name == p.Target {
				c.issues.add(field, "%q is the target; the target is never a feature, an id or excluded, leave it out", name)
				continue
			}
			c.column(cols, file, field, name)
		}
	}
	if p.Validation.Group != "" {
		c.column(cols, file, "validation.group", p.Validation.Group)
	}
	if p.Validation.Time != "" {
		c.column(cols, file, "validation.time", p.Validation.Time)
	}
	if len(c.issues) > 0 {
		return
	}

	accs := make([]*columnAcc, len(cols))
	target := newColumnAcc(p.Target)
	accs[indexOf(cols, p.Target)] = target
	rows, err := scanTable(ctx, p.Data, accs)
	if err != nil {
		c.issues.add("data", "%v", err)
		return
	}
	c.target(p, target, rows, file, kind)
}

// column reports name when it is not one of cols.
func (c *checker) column(cols []string, file, field, name string) {
	if contains(cols, name) {
		return
	}
	shown := cols
	more := ""
	if len(shown) > 12 {
		shown, more = shown[:12], fmt.Sprintf(", … (%d in all)", len(cols))
	}
	c.issues.add(field, "%q is not a column of %s;%s columns: %s%s", name, file, didYouMean(name, cols), strings.Join(shown, ", "), more)
}

// target checks the target's values against the task and the metric, and
// settles tb.classification into binary or multiclass.
func (c *checker) target(p *Problem, a *columnAcc, rows int64, file, kind string) {
	where := func(n int64) string {
		if kind == formatParquet {
			return fmt.Sprintf("in row %d", n)
		}
		return fmt.Sprintf("on line %d", n)
	}
	if rows == 0 {
		c.issues.add("data", "%s has no rows", file)
		return
	}
	if a.count == a.missing {
		c.issues.add("target", "%q has no values in %s (all %d are missing)", p.Target, file, rows)
		return
	}
	if rows < int64(p.Validation.Folds) {
		c.issues.add("validation.folds", "%d folds need at least %d rows; %s has %d", p.Validation.Folds, p.Validation.Folds, file, rows)
	}
	if p.Task == Regression {
		if a.temporal != "" {
			c.issues.add("target", "%q holds dates or times (%s); a regression target must be a number", p.Target, a.dtype)
			return
		}
		if !a.isNumeric() {
			c.issues.add("target", "%q is not numeric (%q %s); a regression target must be a number, use tb.classification for labels", p.Target, a.firstText, where(a.firstTextLine))
			return
		}
		switch p.Metric.Name {
		case "rmsle":
			if a.hasNegative {
				c.issues.add("metric", "\"rmsle\" needs targets ≥ 0, and %s is %v %s; use rmse or mae", p.Target, a.negative, where(a.negativeLine))
			}
		case "mape":
			if a.zeros > 0 {
				c.issues.add("metric", "\"mape\" is undefined when the target is 0, and %s is 0 %s (%d rows in all); use mae or rmse", p.Target, where(a.firstZeroLine), a.zeros)
			}
		}
		return
	}

	if a.distinctCapped || len(a.distinct) > maxClasses {
		c.issues.add("target", "%q has more than %d distinct values, too many for classes; if it is a quantity, use tb.regression", p.Target, maxClasses)
		return
	}
	classes := a.classes()
	switch {
	case len(classes) < 2:
		c.issues.add("target", "%q has one class only (%s); classification needs at least two", p.Target, classes[0])
		return
	case p.Task == autoClassification && len(classes) == 2:
		p.Task = Binary
	case p.Task == autoClassification:
		p.Task = Multiclass
	case p.Task == Binary && len(classes) > 2:
		c.issues.add("task", "binary, but %q has %d classes (%s); use tb.multiclass or tb.classification", p.Target, len(classes), classList(classes))
		return
	case p.Task == Multiclass && len(classes) == 2:
		c.issues.add("task", "multiclass, but %q has 2 classes (%s); use tb.binary or tb.classification", p.Target, classList(classes))
		return
	}
	p.Classes = classes
	if p.Validation.Kind == "stratified_kfold" {
		for _, cl := range classes {
			if n := a.distinct[cl]; n < int64(p.Validation.Folds) {
				c.issues.add("validation.folds", "%d stratified folds need at least %d rows of every class; class %q of %s has %d", p.Validation.Folds, p.Validation.Folds, cl, p.Target, n)
				break
			}
		}
	}
}

func classList(classes []string) string {
	if len(classes) > 8 {
		return strings.Join(classes[:8], ", ") + ", …"
	}
	return strings.Join(classes, ", ")
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}
