package agent

import (
	"context"
	"errors"
	"fmt"
)

// RunWhole runs one trial that p writes ahead, through a session: the plan
// opens it, the cells run in order, a cell that raises goes back to p.Fix
// (up to the problem's agent.fixAttempts times) and its fix replaces it in
// place, then the harness scores what the cells handed back. Every way the
// trial can end is the session's, so the journal tells it the same for
// every agent.
func RunWhole(ctx context.Context, p Proposer, s State, l Lab) error {
	t, err := p.Propose(ctx, s)
	if err != nil {
		return err
	}
	if len(t.Cells) == 0 {
		return fmt.Errorf("the agent proposed %q with no cells", t.Title)
	}
	sess, err := l.Open(ctx, TrialPlan{Title: t.Title, Plan: t.Plan, Tags: t.Tags, Cells: t.Cells, Usage: t.Usage})
	if err != nil {
		return err
	}
	fixAttempts := 0
	if s.Problem != nil {
		fixAttempts = s.Problem.Agent.FixAttempts
	}
	abandon := func(reason string) error { return sess.Abandon(ctx, reason) }
	for i, src := range t.Cells {
		res, err := sess.RunCell(ctx, src)
		for attempt := 1; err == nil && res.Error != nil; attempt++ {
			ce := res.Error
			why := fmt.Sprintf("cell %d raised %s: %s", i+1, ce.Ename, ce.Evalue)
			if attempt > fixAttempts {
				return abandon(fmt.Sprintf("%s; %d fix attempts did not help", why, attempt-1))
			}
			fx, ferr := p.Fix(ctx, FixRequest{
				State: s, Number: sess.Number(), Trial: t, Cell: i, Source: src,
				Ename: ce.Ename, Evalue: ce.Evalue, Traceback: ce.Traceback, Attempt: attempt,
			})
			if ferr != nil {
				fx.Usage = SpentOn(ferr) // a failed fix may still have cost tokens
			}
			if err := sess.Spend(fx.Usage); err != nil {
				return err
			}
			if ferr != nil {
				return abandon(fmt.Sprintf("%s; the agent could not fix it: %v", why, ferr))
			}
			src = fx.Source
			res, err = sess.ReplaceCell(ctx, i, fx.Source, fx.Note)
		}
		if errors.Is(err, ErrTrialEnded) {
			return err
		}
		if err != nil {
			// The session refused the call (a budget that leaves it open).
			return abandon(err.Error())
		}
	}
	if _, err := sess.Finish(ctx); err != nil {
		if errors.Is(err, ErrNotScored) {
			return abandon(err.Error())
		}
		return err
	}
	return nil
}
