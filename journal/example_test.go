package journal_test

import (
	"fmt"
	"os"
	"path/filepath"

	"trialbook/journal"
)

func Example() {
	dir, _ := os.MkdirTemp("", "experiment")
	defer os.RemoveAll(dir)

	unlock, err := journal.Lock(dir) // one writer per experiment folder
	if err != nil {
		fmt.Println(err)
		return
	}
	defer unlock()
	j, err := journal.Open(filepath.Join(dir, journal.FileName))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer j.Close()

	sub := j.Subscribe(0) // replays what is there, then live events
	defer sub.Close()
	j.Append(journal.Event{Type: journal.ExperimentCreated, Problem: &journal.ProblemSummary{Name: "house-prices", Metric: "rmse", Direction: "minimize", Trials: 20}})
	j.Append(journal.Event{Type: journal.ExperimentStarted})
	j.Append(journal.Event{Type: journal.TrialFinished, Trial: 1, Title: "Ridge", Score: &journal.Score{Metric: "rmse", CV: 34512.3}})
	j.Append(journal.Event{Type: journal.TrialKept, Trial: 1, Best: 1})
	fmt.Println("first event seen:", (<-sub.C()).Type)

	s := journal.Fold(j.Events())
	fmt.Printf("%s: %s, %d/%d done, best trial %d (cv %.1f)\n", s.Problem.Name, s.Status, s.Counts.Done, s.Counts.Total, s.Best.Trial, s.Best.Score.CV)
	// Output:
	// first event seen: experiment.created
	// house-prices: running, 1/20 done, best trial 1 (cv 34512.3)
}
