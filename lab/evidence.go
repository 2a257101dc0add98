package lab

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"trialbook/agent"
	"trialbook/specs"
)

// Evidence for agents, measured by the harness so that no agent reads the
// folder: the training part's profile and each trial's feature ranking.

// ProfileView profiles what agents get of the data: the data view's
// training part (prepared first if need be), never the holdout rows, whose
// labels would otherwise shape the target's summary that AGENTS.md shows.
func ProfileView(ctx context.Context, p *specs.Problem, dir string) (*specs.Profile, error) {
	if _, err := PrepareData(p, dir); err != nil {
		return nil, err
	}
	return specs.ProfileFile(ctx, Folder{dir}.Path(viewTrainFile), specs.ProfileOptions{
		Target: p.Target, Task: p.Task, Features: p.Features,
		Group: p.Validation.Group, Time: p.Validation.Time,
	})
}

// importanceOf is the ranking trial n handed back, nil when none.
func (f Folder) importanceOf(n int) []agent.FeatureImportance {
	raw, err := os.ReadFile(f.Artifact(n, ImportanceFile))
	if err != nil {
		return nil
	}
	var all []agent.FeatureImportance
	if json.Unmarshal(raw, &all) != nil {
		return nil
	}
	return all
}

func isMissing(v string) bool {
	switch strings.TrimSpace(v) {
	case "", "NA", "N/A", "NaN", "nan", "null", "NULL", "None", "<NA>", "#N/A", "n/a":
		return true
	}
	return false
}

// trainFacts reads the data view's training part for the evidence the
// feature steps need.
func trainFacts(path, target string) (*agent.TrainFacts, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	header, err := r.Read()
	if err != nil {
		return nil, err
	}
	n := len(header)
	missing := make([]int, n)
	numeric := make([]bool, n)
	for i := range numeric {
		numeric[i] = true
	}
	levels := make([]map[string]bool, n)
	for i := range levels {
		levels[i] = map[string]bool{}
	}
	var ys []float64
	ti := slices.Index(header, target)
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		for i, v := range rec {
			if isMissing(v) {
				missing[i]++
				continue
			}
			if _, err := strconv.ParseFloat(v, 64); err != nil {
				numeric[i] = false
			}
			if len(levels[i]) <= 11 {
				levels[i][v] = true
			}
		}
		if ti >= 0 {
			if y, err := strconv.ParseFloat(rec[ti], 64); err == nil {
				ys = append(ys, y)
			}
		}
	}
	p := &agent.TrainFacts{Missing: map[string]int{}}
	for i, h := range header {
		if i == ti {
			continue
		}
		if missing[i] > 0 {
			p.Missing[h] = missing[i]
		}
		if !numeric[i] && len(levels[i]) > 10 {
			p.HighCardinality = append(p.HighCardinality, h)
		}
	}
	if ti >= 0 && numeric[ti] && len(ys) > 2 {
		p.TargetNumeric = true
		p.TargetSkew, p.TargetMin = skewness(ys)
	}
	return p, nil
}

// skewness is the sample skewness (Fisher-Pearson, as pandas' skew) and min.
func skewness(x []float64) (float64, float64) {
	n := float64(len(x))
	var mean, lo float64 = 0, math.Inf(1)
	for _, v := range x {
		mean += v
		lo = math.Min(lo, v)
	}
	mean /= n
	var m2, m3 float64
	for _, v := range x {
		d := v - mean
		m2 += d * d
		m3 += d * d * d
	}
	m2 /= n
	m3 /= n
	if m2 == 0 {
		return 0, lo
	}
	g1 := m3 / math.Pow(m2, 1.5)
	return g1 * math.Sqrt(n*(n-1)) / (n - 2), lo
}
