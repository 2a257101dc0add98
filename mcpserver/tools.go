package mcpserver

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"trialbook/agent"
	"trialbook/lab"
)

// The tools' arguments. Their JSON schemas are derived from these types;
// the jsonschema tags are the descriptions a model reads.
type (
	noArgs    struct{}
	startArgs struct {
		Title string `json:"title" jsonschema:"a short title for the trial, e.g. LightGBM on log target"`
		Plan  string `json:"plan" jsonschema:"markdown: what the trial tries and why, citing earlier trials by number and CV score, and what result would confirm or refute the idea"`
	}
	cellArgs struct {
		Trial int    `json:"trial" jsonschema:"the trial number start_trial returned"`
		Code  string `json:"code" jsonschema:"Python code for one cell: one step (features, model, fold loop, hand-back)"`
	}
	replaceArgs struct {
		Trial int    `json:"trial" jsonschema:"the trial number start_trial returned"`
		Index int    `json:"index" jsonschema:"the cell to replace: the index run_cell reported (0 is your first cell)"`
		Code  string `json:"code" jsonschema:"the corrected Python code for that cell"`
		Note  string `json:"note,omitempty" jsonschema:"optional: what was wrong, in one line"`
	}
	trialArgs struct {
		Trial int `json:"trial" jsonschema:"the trial number"`
	}
	abandonArgs struct {
		Trial  int    `json:"trial" jsonschema:"the trial number"`
		Reason string `json:"reason" jsonschema:"why the trial is abandoned, in one line; later trials read it"`
	}
	readArgs struct {
		N int `json:"n" jsonschema:"the number of an earlier trial"`
	}
)

// tool adds one tool whose handler answers with text or a tool error.
func tool[In any](s *Server, name, title, desc string, h func(context.Context, *mcp.CallToolRequest, In) (*mcp.CallToolResult, error)) {
	mcp.AddTool(s.srv, &mcp.Tool{Name: name, Title: title, Description: desc},
		func(ctx context.Context, req *mcp.CallToolRequest, in In) (*mcp.CallToolResult, any, error) {
			res, err := h(ctx, req, in)
			if err != nil {
				s.opts.Log.Debug().Str("tool", name).Err(err).Msg("tool refused")
			}
			return res, nil, err
		})
}

func (s *Server) addTools() {
	tool(s, "experiment", "The experiment",
		"Read this first and again before each new trial. Returns the problem (task, target, metric and whether higher or lower is better), "+
			"the rules, the budget used and left (trials, time, per-cell and per-trial time, trials open at once), "+
			"the leaderboard of earlier trials (CV score ± std over folds, fold scores, kept/discarded/failed and why) "+
			"and the names the harness's setup cell defines in every trial (X, y, folds, X_holdout, hand_back, ...).",
		func(ctx context.Context, req *mcp.CallToolRequest, _ noArgs) (*mcp.CallToolResult, error) {
			return textResult(s.experimentText()), nil
		})
	tool(s, "start_trial", "Start a trial",
		"Opens a new trial: the harness writes a notebook with your plan and its setup cell, starts a fresh Python kernel and runs the setup cell. "+
			"Returns the trial number (use it in run_cell, replace_cell, finish_trial, abandon_trial), the notebook's path and the setup cell's output. "+
			"Refused with an error when the experiment's trial or time budget is spent, or when as many trials are open as the server allows.",
		s.startTrial)
	tool(s, "run_cell", "Run a cell",
		"Appends one Python code cell to the trial's notebook and runs it in the trial's live kernel (variables from earlier cells are still there). "+
			"Returns the cell's index and its outputs: printed text (long output is cut, with a note), results, images, and, when the cell raised, "+
			"the exception with the end of its traceback. A cell that raises stays in the notebook: fix it with replace_cell rather than adding another. "+
			"Each cell has a time limit; past it, or past the trial's time limit, the trial fails.",
		s.runCell)
	tool(s, "replace_cell", "Replace a cell",
		"Replaces the code of one of the trial's cells (usually one that raised) and runs it again in the same kernel; the cells before it are not re-run. "+
			"The replaced version is kept in the notebook for the record. Returns the outputs as run_cell does.",
		s.replaceCell)
	tool(s, "finish_trial", "Finish a trial",
		"Ends the trial and has the harness score it from the predictions your last cell handed back with hand_back(oof, holdout). "+
			"Returns the CV score ± std, the fold scores, and whether the trial was kept (better than the best beyond noise) or discarded, and why. "+
			"When nothing was handed back it returns an error and the trial stays open: run a cell that calls hand_back, then finish again.",
		s.finishTrial)
	tool(s, "abandon_trial", "Abandon a trial",
		"Ends the trial as failed without scoring it, with your reason (e.g. the idea cannot work on this data). It still counts against the trial budget.",
		s.abandonTrial)
	tool(s, "trial", "Read an earlier trial",
		"Returns an earlier trial's title, plan, status and scores (CV ± std and fold scores) and its cells' code with a short view of their outputs, "+
			"so that you can build on what worked.",
		s.readTrial)
}

func (s *Server) startTrial(ctx context.Context, req *mcp.CallToolRequest, in startArgs) (*mcp.CallToolResult, error) {
	if strings.TrimSpace(in.Title) == "" {
		return nil, errors.New("title is empty: give the trial a short title, e.g. \"LightGBM on log target\"")
	}
	if strings.TrimSpace(in.Plan) == "" {
		return nil, errors.New("plan is empty: say in markdown what the trial tries and why")
	}
	s.startMu.Lock()
	defer s.startMu.Unlock()
	if why := s.spent(); why != "" {
		return nil, fmt.Errorf("no more trials: the experiment's budget is spent (%s). Stop here", why)
	}
	s.mu.Lock()
	open := len(s.trials)
	s.mu.Unlock()
	if open >= s.opts.Workers {
		return nil, fmt.Errorf("%d trials are open, as many as this server allows (--workers %d): finish or abandon one first", open, s.opts.Workers)
	}
	sess, err := s.x.Start(ctx, agent.TrialPlan{Title: in.Title, Plan: in.Plan}, lab.SessionOptions{Agent: clientName(req)})
	switch {
	case errors.Is(err, lab.ErrBudgetSpent):
		return nil, fmt.Errorf("no more trials: %v. Stop here", err)
	case errors.Is(err, lab.ErrClosed):
		if why := s.spent(); why != "" {
			return nil, fmt.Errorf("no more trials: the experiment's budget is spent (%s). Stop here", why)
		}
		return nil, errors.New("no more trials: the experiment's run has ended")
	case sess == nil && err != nil:
		return nil, err
	}
	setup := s.setupOutput(sess)
	if err != nil {
		s.finishIfSpent()
		return nil, fmt.Errorf("trial %d could not start: %v\n%s", sess.Number(), err, setup)
	}
	s.mu.Lock()
	s.trials[sess.Number()] = &openTrial{s: sess, owner: req.Session}
	s.mu.Unlock()
	if req.Session != nil {
		s.watch(req.Session)
	}
	s.addNotebook(sess.Notebook())
	return textResult(fmt.Sprintf("Trial %d started: %s\nnotebook: %s\n\nThe setup cell ran; its output:\n%s\n\n"+
		"Now run your cells one at a time with run_cell(trial=%d, code=...). The last one calls hand_back(oof, holdout); then call finish_trial(trial=%d).",
		sess.Number(), in.Title, sess.Notebook(), setup, sess.Number(), sess.Number())), nil
}

func (s *Server) runCell(ctx context.Context, req *mcp.CallToolRequest, in cellArgs) (*mcp.CallToolResult, error) {
	if strings.TrimSpace(in.Code) == "" {
		return nil, errors.New("code is empty: send the Python code of one cell")
	}
	sess, err := s.trial(req, in.Trial)
	if err != nil {
		return nil, err
	}
	res, err := sess.RunCell(ctx, in.Code)
	if err != nil {
		return s.cellEnded(in.Trial, res, err)
	}
	return s.cellResult(in.Trial, res), nil
}

func (s *Server) replaceCell(ctx context.Context, req *mcp.CallToolRequest, in replaceArgs) (*mcp.CallToolResult, error) {
	if strings.TrimSpace(in.Code) == "" {
		return nil, errors.New("code is empty: send the corrected Python code of the cell")
	}
	sess, err := s.trial(req, in.Trial)
	if err != nil {
		return nil, err
	}
	res, err := sess.ReplaceCell(ctx, in.Index, in.Code, in.Note)
	if err != nil {
		return s.cellEnded(in.Trial, res, err)
	}
	return s.cellResult(in.Trial, res), nil
}

// cellEnded answers a cell call that was refused or ended the trial; what
// the cell printed before is part of the error.
func (s *Server) cellEnded(n int, res agent.CellResult, err error) (*mcp.CallToolResult, error) {
	err = s.endedErr(n, err)
	if len(res.Outputs) == 0 {
		return nil, err
	}
	r := s.cellResult(n, res)
	r.IsError = true
	r.Content = append([]mcp.Content{&mcp.TextContent{Text: err.Error()}}, r.Content...)
	return r, nil
}

func (s *Server) finishTrial(ctx context.Context, req *mcp.CallToolRequest, in trialArgs) (*mcp.CallToolResult, error) {
	sess, err := s.trial(req, in.Trial)
	if err != nil {
		return nil, err
	}
	out, err := sess.Finish(ctx)
	if errors.Is(err, agent.ErrNotScored) {
		return nil, fmt.Errorf("%v. Trial %d is still open: run a cell that calls hand_back(oof, holdout), then finish_trial again, or abandon_trial", err, in.Trial)
	}
	if err != nil {
		return nil, s.endedErr(in.Trial, err)
	}
	s.forget(in.Trial)
	s.finishIfSpent()
	return textResult(outcomeText(out) + "\n\n" + s.budgetLine()), nil
}

func (s *Server) abandonTrial(ctx context.Context, req *mcp.CallToolRequest, in abandonArgs) (*mcp.CallToolResult, error) {
	sess, err := s.trial(req, in.Trial)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(in.Reason) == "" {
		return nil, errors.New("reason is empty: say in one line why the trial is abandoned")
	}
	if err := sess.Abandon(ctx, in.Reason); err != nil {
		return nil, s.endedErr(in.Trial, err)
	}
	s.forget(in.Trial)
	s.finishIfSpent()
	return textResult(fmt.Sprintf("Trial %d abandoned: %s\n\n%s", in.Trial, in.Reason, s.budgetLine())), nil
}

func (s *Server) readTrial(ctx context.Context, req *mcp.CallToolRequest, in readArgs) (*mcp.CallToolResult, error) {
	text, err := s.trialText(in.N)
	if err != nil {
		return nil, err
	}
	return textResult(text), nil
}

func textResult(text string) *mcp.CallToolResult {
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}}
}
