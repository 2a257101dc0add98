// Package mcpserver serves one experiment's trial sessions over the Model
// Context Protocol, so that any coding agent that speaks MCP (Claude Code,
// Codex, Cursor, ...) can be the agent of a trialbook experiment. Every call
// goes through lab's trial session: the setup cell, the budgets, the sealed
// holdout, scoring and journaling stay the harness's. No tool result carries
// a holdout score.
package mcpserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/rs/zerolog"

	"trialbook/agent"
	"trialbook/journal"
	"trialbook/lab"
)

// Options configure a Server.
type Options struct {
	// Experiment is the open run (lab.Open) whose sessions are served.
	Experiment *lab.Experiment
	// Dir is the experiment folder.
	Dir string
	// Workers is how many trials may be open at once (lab.Options.Workers).
	Workers int
	// Version is trialbook's version, reported to clients.
	Version string
	// MaxText bounds the text of one cell's outputs in a tool result;
	// 0 means DefaultMaxText.
	MaxText int
	Log     zerolog.Logger
}

// DefaultMaxText is how much of a cell's output text a tool result carries.
const DefaultMaxText = 8000

// Server is the MCP server of one experiment.
type Server struct {
	opts Options
	x    *lab.Experiment
	srv  *mcp.Server

	startMu sync.Mutex // one start_trial at a time, so the worker count holds
	mu      sync.Mutex
	trials  map[int]*openTrial // trials started here and not yet ended by a tool
	watched map[*mcp.ServerSession]bool
	ended   bool // the experiment was finished by the server
}

// openTrial is a trial session and the client that drives it.
type openTrial struct {
	s     *lab.Session
	owner *mcp.ServerSession
}

// New builds the server: its tools and resources.
func New(o Options) *Server {
	if o.Workers < 1 {
		o.Workers = 1
	}
	if o.MaxText <= 0 {
		o.MaxText = DefaultMaxText
	}
	s := &Server{opts: o, x: o.Experiment, trials: map[int]*openTrial{}, watched: map[*mcp.ServerSession]bool{}}
	s.srv = mcp.NewServer(&mcp.Implementation{Name: "trialbook", Title: "trialbook", Version: o.Version},
		&mcp.ServerOptions{Instructions: instructions})
	s.addTools()
	s.addResources()
	return s
}

// instructions are the server's instructions to a connecting model.
const instructions = `This server runs machine-learning trials for one trialbook experiment. ` +
	`Each trial is a Jupyter notebook executed cell by cell in a live Python kernel; the harness writes the first (setup) cell, ` +
	`scores every trial itself from the predictions the trial hands back, and keeps the best. ` +
	`The loop: call experiment (problem, rules, budget, leaderboard), start_trial with a title and a plan, run_cell one step at a time, ` +
	`replace_cell to fix a cell that raised, end with a cell that calls hand_back(oof, holdout), then finish_trial. ` +
	`Repeat until experiment says the budget is spent. Never write files of your own to be scored: only hand_back counts. ` +
	`Read the AGENTS.md resource for the full contract.`

// MCP is the underlying SDK server, e.g. to connect a transport in tests.
func (s *Server) MCP() *mcp.Server { return s.srv }

// RunStdio serves one client over stdin and stdout until it disconnects or
// ctx is cancelled; the trials it left open are then interrupted.
func (s *Server) RunStdio(ctx context.Context) error {
	err := s.srv.Run(ctx, &mcp.StdioTransport{})
	s.interruptAll("the MCP client disconnected")
	if errors.Is(err, context.Canceled) || err == nil || strings.Contains(err.Error(), "EOF") {
		return nil
	}
	return err
}

// Handler serves the streamable HTTP transport behind the token: clients
// send "Authorization: Bearer TOKEN" (or "token TOKEN"). A session idle for
// SessionTimeout is closed and its open trials interrupted.
func (s *Server) Handler(token string) http.Handler {
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s.srv },
		&mcp.StreamableHTTPOptions{SessionTimeout: SessionTimeout})
	return requireToken(token, h)
}

// SessionTimeout closes an HTTP client's session after this long without a
// request.
const SessionTimeout = 30 * time.Minute

// Close interrupts the trials still open and ends the experiment's run:
// finished when its trial or time budget is spent, else paused (a later run
// resumes it).
func (s *Server) Close() (journal.Snapshot, error) {
	s.interruptAll("the MCP server stopped")
	s.mu.Lock()
	ended := s.ended
	s.mu.Unlock()
	if ended {
		return s.x.Snapshot(), nil
	}
	if why := s.spent(); why != "" {
		return s.x.Finish(why)
	}
	return s.x.Close()
}

// interruptAll interrupts every trial started here that is still open.
func (s *Server) interruptAll(reason string) {
	s.mu.Lock()
	open := make([]*openTrial, 0, len(s.trials))
	for n, t := range s.trials {
		open = append(open, t)
		delete(s.trials, n)
	}
	s.mu.Unlock()
	for _, t := range open {
		if err := t.s.Interrupt(reason); err != nil {
			s.opts.Log.Warn().Err(err).Int("trial", t.s.Number()).Msg("interrupting a trial")
		}
	}
}

// watch interrupts the trials of ss once its client disconnects.
func (s *Server) watch(ss *mcp.ServerSession) {
	s.mu.Lock()
	if s.watched[ss] {
		s.mu.Unlock()
		return
	}
	s.watched[ss] = true
	s.mu.Unlock()
	go func() {
		_ = ss.Wait()
		s.mu.Lock()
		delete(s.watched, ss)
		var left []*openTrial
		for n, t := range s.trials {
			if t.owner == ss {
				left = append(left, t)
				delete(s.trials, n)
			}
		}
		s.mu.Unlock()
		for _, t := range left {
			if err := t.s.Interrupt("the MCP client disconnected"); err != nil {
				s.opts.Log.Warn().Err(err).Int("trial", t.s.Number()).Msg("interrupting a trial")
			}
		}
	}()
}

// spent says why no more trials may start ("" when some may): the trial
// budget is used up or the time budget has run out.
func (s *Server) spent() string {
	b := s.budget()
	if b.trials > 0 && b.used >= b.trials && b.running == 0 {
		return fmt.Sprintf("%d trials done", b.used)
	}
	if b.time > 0 && b.elapsed >= b.time {
		return fmt.Sprintf("the time budget of %s is spent", b.time)
	}
	return ""
}

// budget is what the experiment's budgets allow and what is used.
type budget struct {
	trials, used, running int
	time, elapsed         time.Duration
}

func (s *Server) budget() budget {
	snap := s.x.Snapshot()
	c := snap.Counts
	b := budget{used: c.Kept + c.Discarded + c.Failed, running: len(snap.Running), elapsed: time.Duration(snap.Elapsed)}
	if snap.Status == journal.StatusRunning && !snap.UpdatedAt.IsZero() {
		b.elapsed += time.Since(snap.UpdatedAt)
	}
	if p := snap.Problem; p != nil {
		b.trials = p.Trials
		if p.TimeBudget != "" {
			b.time, _ = time.ParseDuration(p.TimeBudget)
		}
	}
	return b
}

// finishIfSpent ends the experiment once its trial budget is used up and
// no trial is open, as `trialbook run` does.
func (s *Server) finishIfSpent() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended || len(s.trials) > 0 {
		return
	}
	b := s.budget()
	if b.trials > 0 && b.used >= b.trials && b.running == 0 {
		if _, err := s.x.Finish(fmt.Sprintf("%d trials done", b.used)); err != nil {
			s.opts.Log.Warn().Err(err).Msg("finishing the experiment")
		}
		s.ended = true
	}
}

// clientName is the agent's name as the MCP client reports itself.
func clientName(req *mcp.CallToolRequest) string {
	if ci := req.ClientInfo(); ci != nil && strings.TrimSpace(ci.Name) != "" {
		return strings.TrimSpace(ci.Name)
	}
	return "mcp-client"
}

// trial is the open trial n, driven by the client of req.
func (s *Server) trial(req *mcp.CallToolRequest, n int) (*lab.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.trials[n]
	if !ok {
		open := make([]string, 0, len(s.trials))
		for m, t := range s.trials {
			if t.owner == req.Session {
				open = append(open, fmt.Sprint(m))
			}
		}
		which := "none"
		if len(open) > 0 {
			which = strings.Join(open, ", ")
		}
		return nil, fmt.Errorf("trial %d is not open (your open trials: %s); start one with start_trial, or read a finished one with trial", n, which)
	}
	if t.owner != req.Session {
		return nil, fmt.Errorf("trial %d is driven by another MCP client; start your own with start_trial", n)
	}
	return t.s, nil
}

// forget drops trial n from the open trials once it has ended.
func (s *Server) forget(n int) {
	s.mu.Lock()
	delete(s.trials, n)
	s.mu.Unlock()
}

// ended turns an error that ended the trial into the model's explanation.
func (s *Server) endedErr(n int, err error) error {
	var ee *agent.EndedError
	if errors.As(err, &ee) {
		s.forget(n)
		s.finishIfSpent()
		return fmt.Errorf("trial %d has ended (%s): %s. Start a new trial with start_trial", ee.Number, ee.Status, ee.Reason)
	}
	return err
}
