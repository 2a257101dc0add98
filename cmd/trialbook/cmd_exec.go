package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"
	"time"

	"trialbook/kernel"
	"trialbook/kernel/gateway"
)

// runExec runs code in a fresh kernel and prints what a person expects to
// see: stream text, text/plain results, tracebacks, and rich outputs named by
// type and size.
func runExec(ctx context.Context, a *app, args []string) error {
	fs := a.flags("exec")
	name := fs.String("kernel", "python3", "kernelspec `name` (see trialbook kernels)")
	timeout := fs.Duration("timeout", 0, "interrupt the code after this long (e.g. 30s); 0 means no limit")
	server := fs.String("server", "", "run the kernel on this Jupyter Server (e.g. http://127.0.0.1:8888) instead of locally")
	token := fs.String("token", os.Getenv("JUPYTER_TOKEN"), "the Jupyter Server's token (default $JUPYTER_TOKEN)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return errUsage
	}
	code := strings.Join(fs.Args(), " ")
	if code == "-" {
		b, err := io.ReadAll(os.Stdin)
		if err != nil {
			return fmt.Errorf("read code from stdin: %w", err)
		}
		code = string(b)
	}
	var (
		k   *kernel.Kernel
		err error
	)
	if *server != "" {
		c := &gateway.Client{URL: *server, Token: *token}
		if k, err = c.StartKernel(ctx, *name, kernel.StartOptions{Logger: a.log}); err != nil {
			return err
		}
	} else {
		spec, ferr := kernel.FindSpec(*name, kernel.SearchOptions{})
		if ferr != nil {
			return ferr
		}
		if k, err = kernel.Start(ctx, spec, kernel.StartOptions{Logger: a.log}); err != nil {
			return err
		}
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := k.Shutdown(sctx); err != nil {
			a.log.Warn().Err(err).Msg("kernel shutdown")
		}
	}()

	ectx := ctx
	if *timeout > 0 {
		var cancel context.CancelFunc
		ectx, cancel = context.WithTimeoutCause(ctx, *timeout, fmt.Errorf("timed out after %s", *timeout))
		defer cancel()
	}
	stdin := bufio.NewReader(os.Stdin)
	p := &outputPrinter{stdout: a.stdout, stderr: a.stderr}
	reply, err := k.Execute(ectx, code, kernel.ExecuteOptions{
		StoreHistory: true,
		AllowStdin:   true,
		OnMessage:    p.print,
		OnInput: func(ctx context.Context, prompt string, password bool) (string, error) {
			fmt.Fprint(a.stdout, prompt)
			line, err := stdin.ReadString('\n')
			if err != nil && line == "" {
				return "", fmt.Errorf("no input on stdin: %w", err)
			}
			return strings.TrimRight(line, "\r\n"), nil
		},
	})
	p.finish()
	if err != nil {
		return err
	}
	return reply.Err()
}

// outputPrinter writes iopub messages for a person.
type outputPrinter struct {
	stdout, stderr io.Writer
	atLineStart    bool
	wrote          bool
}

var ansi = regexp.MustCompile(`\x1b\[[0-9;]*[A-Za-z]`)

func (p *outputPrinter) text(w io.Writer, s string) {
	if s == "" {
		return
	}
	fmt.Fprint(w, s)
	p.wrote = true
	p.atLineStart = strings.HasSuffix(s, "\n")
}

func (p *outputPrinter) line(w io.Writer, s string) {
	if p.wrote && !p.atLineStart {
		fmt.Fprintln(w)
	}
	p.text(w, strings.TrimRight(s, "\n")+"\n")
}

func (p *outputPrinter) print(m *kernel.Message) {
	switch c := m.Content.(type) {
	case *kernel.Stream:
		if c.Name == "stderr" {
			p.text(p.stderr, c.Text)
		} else {
			p.text(p.stdout, c.Text)
		}
	case *kernel.ExecuteResult:
		p.bundle(c.Data)
	case *kernel.DisplayData:
		p.bundle(c.Data)
	case *kernel.UpdateDisplayData:
		p.bundle(c.Data)
	case *kernel.Error:
		p.line(p.stderr, ansi.ReplaceAllString(strings.Join(c.Traceback, "\n"), ""))
	}
}

func (p *outputPrinter) bundle(b kernel.MimeBundle) {
	var types []string
	for t := range b {
		if t != "text/plain" {
			types = append(types, t)
		}
	}
	sort.Strings(types)
	for _, t := range types {
		p.line(p.stdout, fmt.Sprintf("[%s %s]", t, humanSize(mimeSize(b[t]))))
	}
	if s := b.Text(); s != "" {
		p.line(p.stdout, s)
	}
}

func (p *outputPrinter) finish() {
	if p.wrote && !p.atLineStart {
		fmt.Fprintln(p.stdout)
	}
}

// mimeSize is the size of one output: decoded bytes for base64 images, the
// text's bytes for text, the JSON's bytes for JSON.
func mimeSize(v any) int {
	switch d := v.(type) {
	case string:
		if n, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(d, "\n", "")); err == nil && len(d) > 0 && !strings.Contains(d, " ") {
			return len(n)
		}
		return len(d)
	case []any: // text split in lines
		n := 0
		for _, s := range d {
			if str, ok := s.(string); ok {
				n += len(str)
			}
		}
		return n
	}
	b, err := json.Marshal(v)
	if err != nil {
		return 0
	}
	return len(b)
}

func humanSize(n int) string {
	switch {
	case n < 1000:
		return fmt.Sprintf("%d B", n)
	case n < 1000*1000:
		return fmt.Sprintf("%.1f KB", float64(n)/1000)
	}
	return fmt.Sprintf("%.1f MB", float64(n)/1e6)
}
