package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"trialbook/bridge"
	"trialbook/journal"
	"trialbook/lab"
	"trialbook/specs"
)

// originList is a repeatable, comma-separable --allow-origin flag.
type originList struct {
	list []string
	set  bool
}

func (o *originList) String() string { return strings.Join(o.list, ",") }

func (o *originList) Set(v string) error {
	if !o.set {
		o.list, o.set = nil, true // the first use replaces the defaults
	}
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			o.list = append(o.list, s)
		}
	}
	return nil
}

// runServe serves the bridge API for the JupyterLab panel.
func runServe(ctx context.Context, a *app, args []string) error {
	fs := a.flags("serve")
	root := fs.String("root", ".", "the folder whose experiments are served")
	addr := fs.String("addr", "127.0.0.1:8765", "address to listen on (port 0: any free port)")
	origins := &originList{list: bridge.DefaultAllowOrigins()}
	fs.Var(origins, "allow-origin", "origin allowed to call the API and open the websocket, e.g. http://localhost:8888 (repeatable or comma-separated; replaces the default "+strings.Join(bridge.DefaultAllowOrigins(), ", ")+")")
	token := fs.String("token", "", "the token to require (default: $TRIALBOOK_TOKEN, else a random one)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected %q", errUsage, fs.Arg(0))
	}
	if *token == "" {
		*token = os.Getenv("TRIALBOOK_TOKEN")
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the trialbook binary: %w", err)
	}

	host, _, err := net.SplitHostPort(*addr)
	if err != nil {
		return fmt.Errorf("--addr %q: %w (want HOST:PORT, e.g. 127.0.0.1:8765)", *addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		a.log.Warn().Str("addr", *addr).Msg("serving beyond this machine: anyone who can reach it and has the token can run code here")
	}
	addrSet := false
	fs.Visit(func(f *flag.Flag) { addrSet = addrSet || f.Name == "addr" })
	ln, err := listen(*addr, !addrSet)
	if err != nil {
		return err
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port

	logger := a.log
	srv, err := bridge.New(bridge.Options{
		Root:         *root,
		Token:        *token,
		AllowOrigins: origins.list,
		Hosts:        []string{host},
		Controller:   &serveController{Processes: &bridge.Processes{Exe: exe}},
		Describe:     describeProblem,
		Inspector:    labInspector{},
		Log:          &logger,
	})
	if err != nil {
		return err
	}

	urlHost := host
	if host == "" || host == "0.0.0.0" || host == "::" {
		urlHost = "127.0.0.1"
	}
	base := "http://" + net.JoinHostPort(urlHost, strconv.Itoa(port)) + "/"
	dir, err := bridge.RuntimeDir(os.Getenv("XDG_RUNTIME_DIR"), os.Getenv("HOME"))
	if err != nil {
		return err
	}
	rtFile, err := bridge.WriteRuntimeFile(dir, port, bridge.RuntimeInfo{
		URL: base, Token: srv.Token(), Root: srv.Root(), PID: os.Getpid(),
		AllowOrigins: srv.AllowOrigins(), Started: time.Now().UTC(),
	})
	if err != nil {
		return err
	}
	defer os.Remove(rtFile)

	fmt.Fprintf(a.stdout, "trialbook serve: experiments under %s\n", srv.Root())
	fmt.Fprintf(a.stdout, "    %s?token=%s\n", base, srv.Token())
	fmt.Fprintf(a.stdout, "allowed origins: %s\n", strings.Join(srv.AllowOrigins(), ", "))
	fmt.Fprintf(a.stdout, "runtime file: %s\n", rtFile)
	return srv.Serve(ctx, ln)
}

// listen listens on addr; with next, a busy port moves on to the following
// ones, as Jupyter does for its default port.
func listen(addr string, next bool) (net.Listener, error) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("--addr %q: %w", addr, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return nil, fmt.Errorf("--addr %q: port %q is not a number", addr, portText)
	}
	tries := 1
	if next && port != 0 {
		tries = 10
	}
	var firstErr error
	for i := range tries {
		ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port+i)))
		if err == nil {
			return ln, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	if tries > 1 {
		return nil, fmt.Errorf("listen: ports %d to %d are busy (%w); choose one with --addr", port, port+tries-1, firstErr)
	}
	return nil, fmt.Errorf("listen: %w", firstErr)
}

// serveController creates experiments through the problem machinery and runs
// them as `trialbook run` children.
type serveController struct {
	*bridge.Processes
}

var _ bridge.Controller = (*serveController)(nil)

// Create writes dir/problem.jsonnet with specs.Init, adds the form's other
// settings as a Jsonnet mixin the user can read and edit, validates the
// result as `trialbook run` will, and renders AGENTS.md. On any error it
// removes what it wrote.
func (c *serveController) Create(ctx context.Context, dir string, req bridge.NewExperiment) (created bridge.Created, err error) {
	if req.Agent != "" && req.Agent != "builtin" {
		return created, &bridge.InvalidError{Field: "agent", Message: fmt.Sprintf("%q: the panel creates experiments for the builtin agent; set an LLM agent in problem.jsonnet", req.Agent)}
	}
	_, statErr := os.Stat(dir)
	dirExisted := statErr == nil
	path, guessed, err := specs.Init(dir, specs.InitOptions{
		Data: req.Data, Target: req.Target, Task: req.Task, Metric: req.Metric,
		Name: filepath.Base(dir), Context: req.Context,
	})
	if err != nil {
		return created, formError(err)
	}
	agentsMD := filepath.Join(dir, "AGENTS.md")
	defer func() {
		if err != nil {
			os.Remove(path)
			os.Remove(agentsMD)
			if !dirExisted {
				os.Remove(dir) // only if empty: never anything the user put there
			}
		}
	}()
	if mixin := formMixin(req); mixin != "" {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return created, err
		}
		_, werr := f.WriteString(mixin)
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return created, werr
		}
	}
	p, err := specs.Load(ctx, path, specs.LoadOptions{})
	if err != nil {
		return created, formError(err)
	}
	prof, err := specs.ProfileData(ctx, p)
	if err != nil {
		return created, err
	}
	if _, err := lab.Confine(ctx, p); err != nil {
		return created, err
	}
	md, err := specs.RenderAgentsMD(p, prof)
	if err != nil {
		return created, formError(err)
	}
	if err := os.WriteFile(agentsMD, []byte(md), 0o644); err != nil {
		return created, err
	}
	return bridge.Created{Problem: path, AgentsMD: md, Guessed: guessed}, nil
}

// describeProblem summarises dir's problem file as experiment.created will.
func describeProblem(ctx context.Context, dir string) (*journal.ProblemSummary, error) {
	p, err := specs.Load(ctx, dir, specs.LoadOptions{})
	if err != nil {
		return nil, err
	}
	s := &journal.ProblemSummary{
		Name: p.Name, Task: string(p.Task), Target: p.Target, Metric: p.Metric.Name,
		Direction: string(p.Metric.Direction), Validation: fmt.Sprintf("%s, %d folds", p.Validation.Kind, p.Validation.Folds),
		Trials: p.Budget.Trials, Agent: p.Agent.Kind,
	}
	if s.Agent == "" {
		s.Agent = "builtin"
	}
	if p.Budget.Time > 0 {
		s.TimeBudget = p.Budget.Time.String()
	}
	return s, nil
}

// formMixin renders the form fields that specs.Init does not take as a
// Jsonnet object added to the starter problem.
func formMixin(req bridge.NewExperiment) string {
	var fields []string
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	folds := req.Folds
	switch req.Validation {
	case "":
		if folds > 0 {
			fields = append(fields, fmt.Sprintf("validation+: { folds: %d }", folds))
		}
	case "kfold", "stratified_kfold", "group_kfold", "time_series":
		if folds == 0 {
			folds = 5
		}
		switch req.Validation {
		case "kfold":
			fields = append(fields, fmt.Sprintf("validation: tb.kfold(%d)", folds))
		case "stratified_kfold":
			fields = append(fields, fmt.Sprintf("validation: tb.stratifiedKfold(%d)", folds))
		case "group_kfold":
			fields = append(fields, fmt.Sprintf("validation: tb.groupKfold(%d, %s)", folds, q(req.Group)))
		case "time_series":
			fields = append(fields, fmt.Sprintf("validation: tb.timeSeriesSplit(%d, %s)", folds, q(req.Time)))
		}
	default:
		// Let the problem's own validation explain what is allowed.
		fields = append(fields, fmt.Sprintf("validation+: { kind: %s }", q(req.Validation)))
	}
	if req.Trials > 0 {
		fields = append(fields, fmt.Sprintf("trials: %d", req.Trials))
	}
	if req.TimeBudget != "" {
		fields = append(fields, "time: "+q(req.TimeBudget))
	}
	if req.FeatureResearch {
		fields = append(fields, "featureResearch: true")
	}
	if req.Explain {
		fields = append(fields, "explain: true")
	}
	if len(fields) == 0 {
		return ""
	}
	return "// Set in the JupyterLab panel's \"New experiment\" form:\n+ {\n  " + strings.Join(fields, ",\n  ") + ",\n}\n"
}

// formError turns a problem-file error into one the panel shows next to the
// form field it is about.
func formError(err error) error {
	var se *specs.Error
	if !errors.As(err, &se) || len(se.Issues) == 0 {
		return err
	}
	field := se.Issues[0].Field
	msg := err.Error()
	if len(se.Issues) == 1 && field != "" {
		msg = se.Issues[0].Message // the panel shows the field beside it
	}
	switch {
	case field == "time":
		field = "timeBudget"
	case strings.HasPrefix(field, "validation."):
		field = map[string]string{"validation.folds": "folds", "validation.group": "group", "validation.time": "time"}[field]
		if field == "" {
			field = "validation"
		}
	case strings.HasPrefix(field, "features"), field == "name", field == "file":
		field = ""
	}
	if field == "" {
		msg = err.Error()
	}
	return &bridge.InvalidError{Field: field, Message: msg}
}
