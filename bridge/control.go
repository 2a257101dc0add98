package bridge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"trialbook/journal"
)

// Controller carries out the panel's verbs. The bridge checks and resolves
// every path before calling it: dir is an absolute experiment folder inside
// the root, and the paths in NewExperiment are absolute and inside the root.
type Controller interface {
	// Create makes the folder dir an experiment from the form, through the
	// same code as `trialbook init`, and renders its AGENTS.md for review.
	Create(ctx context.Context, dir string, req NewExperiment) (Created, error)
	// Start runs the experiment in dir; Resume continues a stopped one.
	Start(ctx context.Context, dir string) error
	Resume(ctx context.Context, dir string) error
	// Stop asks the running experiment to stop cleanly.
	Stop(ctx context.Context, dir string) error
}

var (
	// ErrRunning is Start or Resume on an experiment a process is running.
	ErrRunning = errors.New("experiment is already running")
	// ErrNotRunning is Stop on an experiment no process is running.
	ErrNotRunning = errors.New("experiment is not running")
	// ErrExists is Create on a folder that already holds an experiment.
	ErrExists = errors.New("experiment already exists")
)

// InvalidError is a form or request field that cannot be used; the panel
// shows Message next to Field.
type InvalidError struct {
	Field   string
	Message string
}

func (e *InvalidError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

// NewExperiment is the panel's "New experiment" form. Paths are relative to
// the served root, with / separators, in the request; the bridge makes them
// absolute before handing the form to a Controller.
type NewExperiment struct {
	Name            string `json:"name"`                 // the experiment folder to create
	Data            string `json:"data"`                 // CSV or Parquet file
	Target          string `json:"target"`               // column to predict
	Task            string `json:"task,omitempty"`       // regression, binary, multiclass; empty: guessed
	Metric          string `json:"metric,omitempty"`     // empty: the task's default
	Validation      string `json:"validation,omitempty"` // kfold, stratified_kfold, group_kfold, time_series
	Folds           int    `json:"folds,omitempty"`
	Group           string `json:"group,omitempty"` // group_kfold's column
	Time            string `json:"time,omitempty"`  // time_series' column
	Trials          int    `json:"trials,omitempty"`
	TimeBudget      string `json:"timeBudget,omitempty"` // Go duration, e.g. 30m, 1h30m
	FeatureResearch bool   `json:"featureResearch"`
	Explain         bool   `json:"explain"`
	Context         string `json:"context,omitempty"` // what the data scientist knows, for the agents
	Agent           string `json:"agent,omitempty"`   // builtin (default), openai, anthropic
}

// Created is what Create made.
type Created struct {
	ID       string   `json:"id"`
	Problem  string   `json:"problem"` // the problem file, relative to the root
	AgentsMD string   `json:"agentsMd"`
	Guessed  []string `json:"guessed,omitempty"` // settings guessed from the data, in words
}

// check validates what the bridge can without the problem machinery.
func (n NewExperiment) check() error {
	switch {
	case n.Name == "":
		return &InvalidError{"name", "required: the experiment folder to create, relative to the root"}
	case n.Data == "":
		return &InvalidError{"data", "required: the data file, relative to the root"}
	case n.Target == "":
		return &InvalidError{"target", "required: the column to predict"}
	case n.Folds < 0:
		return &InvalidError{"folds", fmt.Sprintf("%d: want 2 or more", n.Folds)}
	case n.Trials < 0:
		return &InvalidError{"trials", fmt.Sprintf("%d: want 1 or more", n.Trials)}
	}
	if n.TimeBudget != "" {
		if d, err := time.ParseDuration(n.TimeBudget); err != nil || d <= 0 {
			return &InvalidError{"timeBudget", fmt.Sprintf("%q: want a positive duration such as 30m or 1h30m", n.TimeBudget)}
		}
	}
	return nil
}

// Processes starts and stops experiments as `trialbook run` child processes
// of the binary Exe, each in its own process group, so a Ctrl-C meant for
// `trialbook serve` does not reach them and they outlive it: an experiment
// keeps running when the bridge restarts, and the new bridge follows its
// journal. Stop sends SIGINT, on which `trialbook run` marks the running
// trial interrupted and exits cleanly. Experiments started from a terminal
// are found, and stopped, through the pid in their folder's lock.
type Processes struct {
	Exe string // the trialbook binary
	// Args go before the verb, e.g. global flags such as "--log-json".
	Args []string

	mu       sync.Mutex
	children map[string]*exec.Cmd
	done     map[string]chan struct{}
	exits    map[string]RunExit
}

// RunExit is how the last run this bridge started in a folder ended. A run
// that fails before its journal says anything (a problem file that no longer
// loads, no kernel) is only visible here.
type RunExit struct {
	Code int       `json:"code"` // the exit status; -1 if killed by a signal
	At   time.Time `json:"at"`
	Log  string    `json:"log"` // the tail of what the run printed (its .trialbook/run.log)
}

// exitLogTail is how much of a run's output RunExit keeps.
const exitLogTail = 4000

// LastExit reports how the last run started in dir ended, if one has.
func (p *Processes) LastExit(dir string) (RunExit, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e, ok := p.exits[dir]
	return e, ok
}

var _ interface {
	Start(context.Context, string) error
	Resume(context.Context, string) error
	Stop(context.Context, string) error
} = (*Processes)(nil)

// Start runs `trialbook run DIR`.
func (p *Processes) Start(ctx context.Context, dir string) error {
	return p.spawn(dir, "run", dir)
}

// Resume runs `trialbook run --resume DIR`.
func (p *Processes) Resume(ctx context.Context, dir string) error {
	return p.spawn(dir, "run", "--resume", dir)
}

// runLog is where a started experiment's output goes, inside its folder.
func runLog(dir string) string { return filepath.Join(dir, ".trialbook", "run.log") }

func (p *Processes) spawn(dir string, args ...string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.children[dir]; ok {
		return ErrRunning
	}
	if locked, pid, err := journal.Locked(dir); err != nil {
		return err
	} else if locked {
		return fmt.Errorf("%w (process %d)", ErrRunning, pid)
	}
	// .trialbook/ holds the sealed labels: 0700 whoever makes it first.
	if err := os.MkdirAll(filepath.Dir(runLog(dir)), 0o700); err != nil {
		return fmt.Errorf("start %s: %w", dir, err)
	}
	logf, err := os.OpenFile(runLog(dir), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("start %s: %w", dir, err)
	}
	defer logf.Close() // the child has its own copy
	logStart, _ := logf.Seek(0, io.SeekEnd)
	cmd := exec.Command(p.Exe, append(append([]string(nil), p.Args...), args...)...)
	// The child keeps the bridge's working folder, as if typed in the same
	// terminal: the kernel's environment is found from there.
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", dir, err)
	}
	if p.children == nil {
		p.children, p.done, p.exits = map[string]*exec.Cmd{}, map[string]chan struct{}{}, map[string]RunExit{}
	}
	done := make(chan struct{})
	p.children[dir], p.done[dir] = cmd, done
	go func() {
		_ = cmd.Wait() // the journal says how it ended; the exit and run.log say why
		exit := RunExit{Code: cmd.ProcessState.ExitCode(), At: time.Now().UTC(), Log: logTail(runLog(dir), logStart)}
		p.mu.Lock()
		delete(p.children, dir)
		delete(p.done, dir)
		p.exits[dir] = exit
		p.mu.Unlock()
		close(done)
	}()
	return nil
}

// logTail reads what was written to path after offset, keeping the last
// exitLogTail bytes.
func logTail(path string, offset int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.Size() <= offset {
		return ""
	}
	if st.Size()-offset > exitLogTail {
		offset = st.Size() - exitLogTail
	}
	b := make([]byte, st.Size()-offset)
	n, _ := f.ReadAt(b, offset)
	return strings.ToValidUTF8(string(b[:n]), "")
}

// Stop sends SIGINT to the experiment's process group if this bridge started
// it, else to the process holding the folder's lock.
func (p *Processes) Stop(ctx context.Context, dir string) error {
	p.mu.Lock()
	cmd := p.children[dir]
	p.mu.Unlock()
	if cmd != nil {
		if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("stop %s: %w", dir, err)
		}
		return nil
	}
	locked, pid, err := journal.Locked(dir)
	if err != nil {
		return err
	}
	if !locked {
		return ErrNotRunning
	}
	if err := syscall.Kill(pid, syscall.SIGINT); err != nil {
		if errors.Is(err, syscall.ESRCH) {
			return ErrNotRunning
		}
		return fmt.Errorf("stop %s (process %d): %w", dir, pid, err)
	}
	return nil
}

// Wait blocks until the child running dir exits (at once if there is none)
// or ctx ends.
func (p *Processes) Wait(ctx context.Context, dir string) error {
	p.mu.Lock()
	done := p.done[dir]
	p.mu.Unlock()
	if done == nil {
		return nil
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Running lists the folders of the children still running.
func (p *Processes) Running() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var dirs []string
	for d := range p.children {
		dirs = append(dirs, d)
	}
	return dirs
}
