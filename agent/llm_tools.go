package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"trialbook/specs"
)

// Interactive-mode defaults, for the zero fields of LLMConfig.
const (
	// DefaultMaxCellsPerTrial is the cell bound when the problem sets none
	// (specs.DefaultCellsPerTrial, as the session's).
	DefaultMaxCellsPerTrial = specs.DefaultCellsPerTrial
	DefaultMaxToolCalls     = 60
	// A tool result shows at most this much of a cell's text outputs, and
	// of a traceback; the rest is cut with a note.
	resultChars     = 4000
	resultTraceTail = 2000
	// A model that repeats the same call this many times in a row, or
	// answers this many times in a row without calling a tool, is stopped.
	maxRepeats = 3
	maxIdle    = 2
)

// Modes of an LLM agent.
const (
	ModeInteractive = "interactive" // tool calling, cell by cell (the default)
	ModeWhole       = "whole"       // the whole trial written ahead (RunWhole)
)

// chat is a tool-calling conversation, kept the same for both APIs; each
// provider turns it into its own request on every turn.
type chat struct {
	system string
	msgs   []chatMsg
	tools  []toolSpec
	force  string // the tool the next turn must call; "" lets the model pick any
}

// chatMsg is one message: the user's (tool results first, then text) or
// the assistant's (text, then tool calls).
type chatMsg struct {
	assistant bool
	text      string
	calls     []toolCall
	results   []toolResult
}

type toolCall struct {
	id   string
	name string
	args json.RawMessage
}

type toolResult struct {
	id      string
	text    string
	images  []Image // shown to models that accept images, when LLMConfig.Images
	isError bool
}

// reply is one turn of the model.
type reply struct {
	text      string
	calls     []toolCall
	truncated bool
	refusal   string
	usage     Usage
}

// size is about how many characters the conversation holds, for the token
// budget's estimate of the next prompt.
func (c *chat) size() int {
	n := len(c.system)
	for _, m := range c.msgs {
		n += len(m.text)
		for _, tc := range m.calls {
			n += len(tc.args)
		}
		for _, r := range m.results {
			n += len(r.text)
		}
	}
	return n
}

// The tools of the interactive mode.
func planTool() toolSpec {
	return toolSpec{
		name:        "plan_trial",
		description: "Open the next trial with its title and plan. The harness writes the notebook with the plan and runs its setup cell; then you write the trial cell by cell with run_cell.",
		schema: object(map[string]any{
			"title":    str("Short title, e.g. 'LightGBM on log target'"),
			"plan":     str("Markdown, a few sentences: what the trial tries and why, citing earlier trials by number"),
			"family":   str("Model family, e.g. lightgbm, ridge"),
			"features": str("Comma-separated summary of the feature work, or 'none'"),
		}, "title", "plan", "family", "features"),
	}
}

func cellTools() []toolSpec {
	return []toolSpec{
		{name: "run_cell", description: "Append a Python code cell to the trial notebook and run it in the live kernel; its outputs come back.",
			schema: object(map[string]any{"code": str("Plain Python, no markdown fences")}, "code")},
		{name: "replace_cell", description: "Replace the code of one of your cells (index as run_cell reported it) and run it again in the same kernel; earlier cells are not re-run. Use it to fix a cell that raised.",
			schema: object(map[string]any{"index": map[string]any{"type": "integer", "description": "The cell's index, from 0"}, "code": str("The new code")}, "index", "code")},
		{name: "finish", description: "Hand the trial to the harness for scoring: a cell must have called hand_back(oof, holdout, model=...). The harness scores it (CV only) and the trial ends.",
			schema: object(map[string]any{})},
		{name: "abandon", description: "End the trial as failed, with the reason, when it cannot work.",
			schema: object(map[string]any{"reason": str("Why the trial is abandoned, one line")}, "reason")},
	}
}

func object(props map[string]any, required ...string) map[string]any {
	if required == nil {
		required = []string{}
	}
	return map[string]any{"type": "object", "properties": props, "required": required, "additionalProperties": false}
}

func str(desc string) map[string]any { return map[string]any{"type": "string", "description": desc} }

// interactive runs one trial by tool calling: the model plans (which opens
// the session), then runs and replaces cells, seeing each one's outputs,
// until it finishes or abandons the trial or a bound stops it.
func (l *llm) interactive(ctx context.Context, s State, lab Lab) error {
	ctx, note := withRecorder(ctx, lab)
	start := time.Now()
	c := &chat{system: systemPrompt(s) + interactiveRules, tools: append([]toolSpec{planTool()}, cellTools()...), force: "plan_trial"}
	c.msgs = []chatMsg{{text: interactivePrompt(s)}}
	key := s.Next // the trial's key in the per-trial token count
	var sess Session
	var planUsage Usage
	// The plan: one forced call of plan_trial, asked again once when
	// unusable.
	for round := 0; sess == nil; round++ {
		r, err := l.turn(ctx, s, key, c)
		planUsage = planUsage.add(r.usage)
		if err != nil {
			return &llmError{usage: planUsage, err: fmt.Errorf("%s agent: plan trial %d: %w", l.p.name(), s.Next, err)}
		}
		c.msgs = append(c.msgs, chatMsg{assistant: true, text: r.text, calls: r.calls})
		var p TrialPlan
		why := judgeReply(r)
		if why == "" {
			p, why = parsePlan(r.calls)
		}
		if why != "" {
			if round == 1 {
				return &llmError{usage: planUsage, err: fmt.Errorf("%s agent: plan trial %d: unusable answer twice; last: %s", l.p.name(), s.Next, l.scrub(why))}
			}
			c.msgs = append(c.msgs, answerAll(r.calls, "not accepted: "+why, true, againPrompt(why)))
			continue
		}
		p.Usage = planUsage
		sess, err = lab.Open(ctx, p)
		if err != nil {
			return err
		}
		note.trial = sess.Number()
		_ = record(ctx, Note{Text: clip(fmt.Sprintf("planned %q: %s", p.Title, oneLine(p.Plan)), 400)})
		res := []toolResult{{id: r.calls[0].id, text: fmt.Sprintf("Trial %d is open (notebook %s). The setup cell ran: X, y, X_holdout, folds and hand_back are defined. Write the trial cell by cell with run_cell.", sess.Number(), sess.Notebook())}}
		for _, extra := range r.calls[1:] {
			res = append(res, toolResult{id: extra.id, text: "ignored: call one tool at a time until the trial is open", isError: true})
		}
		c.msgs = append(c.msgs, chatMsg{results: res})
	}
	c.force = ""
	c.tools = cellTools()
	d := driver{l: l, s: s, sess: sess, ctx: ctx}
	calls, idle, repeats := 0, 0, 0
	last := ""
	wall := l.cfg.TrialWall
	if wall == 0 && s.Problem != nil {
		wall = s.Problem.Budget.TrialTime
	}
	for {
		if w := wall; w > 0 && time.Since(start) > w {
			return sess.Abandon(ctx, fmt.Sprintf("stopped: the model worked on the trial for %s, past its wall-time bound of %s", seconds(time.Since(start)), w))
		}
		r, err := l.turn(ctx, s, key, c)
		if serr := sess.Spend(r.usage); serr != nil {
			return serr
		}
		if err != nil {
			if errors.Is(err, ErrTrialBudget) || errors.Is(err, ErrBudget) || errors.Is(err, ErrCostBudget) {
				return sess.Abandon(ctx, "stopped: "+err.Error())
			}
			return sess.Abandon(ctx, fmt.Sprintf("the %s provider failed: %v", l.p.name(), err))
		}
		c.msgs = append(c.msgs, chatMsg{assistant: true, text: r.text, calls: r.calls})
		if len(r.calls) == 0 {
			idle++
			why := judgeReply(r)
			if why == "" {
				why = "the answer called no tool"
			}
			_ = record(ctx, Note{Text: clip("said: "+oneLine(r.text)+" (no tool call)", 400)})
			if idle >= maxIdle {
				return sess.Abandon(ctx, fmt.Sprintf("stopped: the model answered %d times in a row without calling a tool (%s)", idle, why))
			}
			c.msgs = append(c.msgs, chatMsg{text: why + ". Call one of the tools: run_cell, replace_cell, finish or abandon."})
			continue
		}
		idle = 0
		var results []toolResult
		for i, tc := range r.calls {
			calls++
			if sig := tc.name + string(tc.args); sig == last {
				repeats++
			} else {
				last, repeats = sig, 1
			}
			switch {
			case calls > l.cfg.MaxToolCalls:
				return sess.Abandon(ctx, fmt.Sprintf("stopped: the model made %d tool calls without finishing (agent.maxToolCalls %d)", calls, l.cfg.MaxToolCalls))
			case repeats >= maxRepeats:
				return sess.Abandon(ctx, fmt.Sprintf("stopped: the model made the same %s call %d times in a row", tc.name, repeats))
			}
			res, step, done, err := d.call(tc)
			said := ""
			if i == 0 && strings.TrimSpace(r.text) != "" {
				said = "said: " + clip(oneLine(r.text), 200) + "; "
			}
			_ = record(ctx, Note{Cell: step.cell, Text: clip(said+step.text, 600)})
			if err != nil || done {
				return err
			}
			results = append(results, res)
		}
		c.msgs = append(c.msgs, chatMsg{results: results})
	}
}

// interactiveRules are added to the system prompt in the interactive mode.
const interactiveRules = `
## How you work in this experiment

You work in the trial notebook through tools, one step at a time, as a data scientist does:
first plan_trial (title and plan), then run_cell for each step, looking at each output before
writing the next (inspect shapes and dtypes, then build features, then fit the model over the folds),
replace_cell to fix a cell that raised (earlier cells keep their state), and finish once a cell has
called hand_back(oof, holdout, model=...). The harness scores the trial; finish tells you its CV.
Call abandon when the trial cannot work. Keep cells short; outputs you see are cut to a few thousand
characters.
`

// interactivePrompt asks for the next trial's plan.
func interactivePrompt(s State) string {
	p := proposePrompt(s)
	if i := strings.Index(p, "## Your task"); i >= 0 {
		p = p[:i]
	}
	return p + fmt.Sprintf(`## Your task

Plan trial %d with plan_trial: build on what worked and avoid repeating what failed or was
discarded; say which earlier trials you build on and why. Then write it cell by cell. Use only the
names the setup cell defines and packages already installed in the kernel, the folds exactly as
given, and SEED wherever randomness appears.
`, s.Next)
}

// turn asks the model once (with retries), checking the budgets first and
// charging what the answer cost.
func (l *llm) turn(ctx context.Context, s State, key int, c *chat) (reply, error) {
	maxOut, err := l.allowance(s, key, c.size())
	if err != nil {
		return reply{}, err
	}
	var r reply
	err = l.retrying(ctx, func(ctx context.Context) error {
		var err error
		r, err = l.p.turn(ctx, c, maxOut, l.cfg.Images)
		return err
	})
	if err != nil {
		return reply{}, err
	}
	l.charge(key, r.usage)
	return r, nil
}

// judgeReply says why a reply is unusable as it stands, or "".
func judgeReply(r reply) string {
	switch {
	case r.refusal != "":
		return "the model refused: " + clip(r.refusal, 300)
	case r.truncated:
		return "the answer was cut off at the output token limit; answer more briefly"
	case len(r.calls) == 0:
		return "the answer called no tool"
	}
	return ""
}

// parsePlan reads the plan_trial call.
func parsePlan(calls []toolCall) (TrialPlan, string) {
	tc := calls[0]
	if tc.name != "plan_trial" {
		return TrialPlan{}, fmt.Sprintf("the first call must be plan_trial, not %s", tc.name)
	}
	var a struct {
		Title, Plan, Family, Features string
	}
	if err := strictJSON(tc.args, &a); err != nil {
		return TrialPlan{}, "plan_trial arguments: " + err.Error()
	}
	if strings.TrimSpace(a.Title) == "" || strings.TrimSpace(a.Plan) == "" {
		return TrialPlan{}, "plan_trial needs a title and a plan"
	}
	tags := map[string]string{}
	if f := strings.TrimSpace(a.Family); f != "" {
		tags["family"] = f
	}
	if f := strings.TrimSpace(a.Features); f != "" {
		tags["features"] = f
	}
	return TrialPlan{Title: clip(a.Title, 120), Plan: a.Plan, Tags: tags}, ""
}

// answerAll answers every call of a reply with the same result, then text.
func answerAll(calls []toolCall, result string, isError bool, text string) chatMsg {
	m := chatMsg{text: text}
	for _, tc := range calls {
		m.results = append(m.results, toolResult{id: tc.id, text: result, isError: isError})
	}
	return m
}

// strictJSON decodes a tool's arguments, refusing unknown fields.
func strictJSON(raw json.RawMessage, v any) error {
	if len(strings.TrimSpace(string(raw))) == 0 {
		raw = json.RawMessage("{}")
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("not the tool's JSON arguments: %v", err)
	}
	return nil
}

// driver runs the model's tool calls on an open session.
type driver struct {
	l     *llm
	s     State
	sess  Session
	ctx   context.Context
	cells int
	over  bool // the model was told the cell bound is reached
}

// maxCells is the problem's cells-per-trial bound.
func (d *driver) maxCells() int {
	if d.s.Problem != nil && d.s.Problem.Budget.CellsPerTrial > 0 {
		return d.s.Problem.Budget.CellsPerTrial
	}
	return DefaultMaxCellsPerTrial
}

// step is what one call did, for the journal.
type step struct {
	cell *int
	text string
}

// call runs one tool call. done is set when the trial ended (finished or
// abandoned); err when the session ended it or refused the trial.
func (d *driver) call(tc toolCall) (res toolResult, st step, done bool, err error) {
	res.id = tc.id
	bad := func(msg string) (toolResult, step, bool, error) {
		res.text, res.isError = msg, true
		return res, step{text: fmt.Sprintf("%s → error: %s", callLine(tc), msg)}, false, nil
	}
	switch tc.name {
	case "run_cell", "replace_cell":
		var a struct {
			Code  *string `json:"code"`
			Index *int    `json:"index"`
		}
		if err := strictJSON(tc.args, &a); err != nil {
			return bad(tc.name + " arguments: " + err.Error())
		}
		if a.Code == nil || strings.TrimSpace(*a.Code) == "" {
			return bad(tc.name + " needs code")
		}
		var cr CellResult
		var err error
		if tc.name == "run_cell" {
			if a.Index != nil {
				return bad("run_cell takes only code; use replace_cell to change a cell")
			}
			if max := d.maxCells(); d.cells >= max {
				if !d.over {
					// Told once: it may still hand back and finish.
					d.over = true
					return bad(fmt.Sprintf("the trial has run its %d cells (budget.cellsPerTrial); finish or abandon it", max))
				}
				why := fmt.Sprintf("stopped: the model ran %d cells and asked for more instead of finishing (budget.cellsPerTrial %d)", d.cells, max)
				return res, step{text: callLine(tc) + " → " + why}, true, d.sess.Abandon(d.ctx, why)
			}
			d.cells++
			cr, err = d.sess.RunCell(d.ctx, *a.Code)
		} else {
			if a.Index == nil {
				return bad("replace_cell needs the index of the cell to replace")
			}
			cr, err = d.sess.ReplaceCell(d.ctx, *a.Index, *a.Code, "replaced by the agent")
		}
		if errors.Is(err, ErrTrialEnded) {
			return res, step{text: callLine(tc) + " → the trial ended: " + err.Error()}, true, err
		}
		if err != nil {
			return bad(err.Error())
		}
		res.text, res.images = cellReport(cr)
		i := cr.Index
		return res, step{cell: &i, text: callLine(tc) + " → " + clip(oneLine(res.text), 300)}, false, nil
	case "finish":
		if err := strictJSON(tc.args, &struct{}{}); err != nil {
			return bad("finish takes no arguments: " + err.Error())
		}
		out, err := d.sess.Finish(d.ctx)
		if errors.Is(err, ErrNotScored) {
			return bad(err.Error() + ". Hand back the predictions with hand_back(oof, holdout) in a cell, then finish.")
		}
		if err != nil {
			return res, step{text: "finish → " + err.Error()}, true, err
		}
		return res, step{text: fmt.Sprintf("finish → %s, cv %.5g ± %.3g (%s)", out.Status, out.CV, out.CVStd, out.Reason)}, true, nil
	case "abandon":
		var a struct {
			Reason string `json:"reason"`
		}
		if err := strictJSON(tc.args, &a); err != nil {
			return bad("abandon arguments: " + err.Error())
		}
		return res, step{text: "abandon: " + clip(oneLine(a.Reason), 300)}, true, d.sess.Abandon(d.ctx, "abandoned by the agent: "+a.Reason)
	case "plan_trial":
		return bad("the trial is already open; call run_cell, replace_cell, finish or abandon")
	}
	return bad(fmt.Sprintf("there is no tool %q; the tools are run_cell, replace_cell, finish and abandon", tc.name))
}

// callLine is a call in one short line.
func callLine(tc toolCall) string {
	var a map[string]any
	_ = json.Unmarshal(tc.args, &a)
	switch tc.name {
	case "run_cell", "replace_cell":
		code, _ := a["code"].(string)
		head := tc.name
		if i, ok := a["index"].(float64); ok {
			head = fmt.Sprintf("%s(%d)", tc.name, int(i))
		}
		return fmt.Sprintf("%s: %s", head, clip(oneLine(code), 160))
	}
	return fmt.Sprintf("%s %s", tc.name, clip(string(tc.args), 160))
}

// cellReport is what the model is told of a cell it ran: its outputs, cut
// to a sensible size, the exception, and the images named.
func cellReport(cr CellResult) (string, []Image) {
	var b strings.Builder
	fmt.Fprintf(&b, "cell %d ran in %s", cr.Index, seconds(cr.Duration))
	if cr.Error != nil {
		b.WriteString(" and raised")
	}
	b.WriteString(".\n")
	var text strings.Builder
	var images []Image
	for _, o := range cr.Outputs {
		switch o.Type {
		case "stream":
			text.WriteString(o.Text)
		case "execute_result", "display_data":
			if o.Text != "" {
				text.WriteString(o.Text)
				if !strings.HasSuffix(o.Text, "\n") {
					text.WriteString("\n")
				}
			}
			for _, im := range o.Images {
				fmt.Fprintf(&text, "[an image output: %s, %d bytes]\n", im.MIME, len(im.Base64)*3/4)
				images = append(images, im)
			}
		}
	}
	out := text.String()
	if len(out) > resultChars {
		out = clip(out, resultChars) + fmt.Sprintf("\n[output cut: %d more characters not shown]\n", len(out)-resultChars)
	}
	if strings.TrimSpace(out) == "" {
		out = "(no output)\n"
	}
	b.WriteString(out)
	if e := cr.Error; e != nil {
		fmt.Fprintf(&b, "\n%s: %s\n", e.Ename, clip(e.Evalue, 500))
		if tb := strings.TrimSpace(e.Traceback); tb != "" {
			fmt.Fprintf(&b, "Traceback (the end):\n%s\n", clipTail(tb, resultTraceTail))
		}
		fmt.Fprintf(&b, "Fix it with replace_cell(index=%d, code=...).\n", cr.Index)
	}
	return b.String(), images
}

// oneLine folds text onto one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
