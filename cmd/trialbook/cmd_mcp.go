package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"time"

	"trialbook/bridge"
	"trialbook/kernel"
	"trialbook/lab"
	"trialbook/mcpserver"
	"trialbook/specs"
)

// runMCP serves one experiment's trial sessions over the Model Context
// Protocol: on stdin/stdout for a client that starts it, or with --http on
// the streamable HTTP transport behind a token. stdout is the protocol's
// channel then: everything else goes to stderr.
func runMCP(ctx context.Context, a *app, args []string) error {
	fs := a.flags("mcp")
	trials := fs.Int("trials", 0, "allow this many finished trials (overrides the problem's budget)")
	budget := fs.Duration("time", 0, "allow this much running time, e.g. 2h (overrides the problem's budget)")
	workers := fs.Int("workers", 1, "trials a client may have open at once, each in its own kernel")
	httpAddr := fs.String("http", "", "serve the streamable HTTP transport on this address, e.g. 127.0.0.1:8766, instead of stdio")
	token := fs.String("token", "", "with --http, the token to require (default: $TRIALBOOK_TOKEN, else a random one)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errUsage
	}
	if *workers < 1 {
		return fmt.Errorf("--workers %d: want at least 1", *workers)
	}
	p, err := specs.Load(ctx, pos[0], specs.LoadOptions{})
	if err != nil {
		return err
	}
	dir := filepath.Dir(p.File)
	spec, err := kernel.FindSpec(p.Kernel.Name, kernel.SearchOptions{})
	if err != nil {
		return err
	}
	prof, err := specs.ProfileData(ctx, p)
	if err != nil {
		return err
	}
	md, err := specs.RenderAgentsMD(p, prof)
	if err != nil {
		return err
	}
	var ln net.Listener
	if *httpAddr != "" {
		if *token == "" {
			*token = os.Getenv("TRIALBOOK_TOKEN")
		}
		if *token == "" {
			if *token, err = bridge.NewToken(); err != nil {
				return err
			}
		}
		host, _, err := net.SplitHostPort(*httpAddr)
		if err != nil {
			return fmt.Errorf("--http %q: %w (want HOST:PORT, e.g. 127.0.0.1:8766)", *httpAddr, err)
		}
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			a.log.Warn().Str("addr", *httpAddr).Msg("serving beyond this machine: anyone who can reach it and has the token can run code here")
		}
		if ln, err = net.Listen("tcp", *httpAddr); err != nil {
			return fmt.Errorf("--http %q: %w", *httpAddr, err)
		}
		defer ln.Close()
	}
	// The run lives until the server stops; a signal stops the server.
	x, err := lab.Open(context.WithoutCancel(ctx), lab.Options{
		Dir: dir, Problem: p, AgentName: "mcp", Spec: spec,
		Trials: *trials, Time: *budget, Workers: *workers,
		AgentsMD: md, Profile: prof.Markdown(), GPUs: gpus(ctx), Log: a.log,
	})
	if err != nil {
		return err
	}
	srv := mcpserver.New(mcpserver.Options{Experiment: x, Dir: dir, Workers: *workers, Version: buildVersion(), Log: a.log})
	var serveErr error
	if ln == nil {
		a.log.Info().Str("dir", dir).Msg("serving MCP on stdio")
		serveErr = srv.RunStdio(ctx)
	} else {
		port := ln.Addr().(*net.TCPAddr).Port
		host, _, _ := net.SplitHostPort(*httpAddr)
		if host == "" || host == "0.0.0.0" || host == "::" {
			host = "127.0.0.1"
		}
		fmt.Fprintf(a.stderr, "trialbook mcp: %s\n    URL:   http://%s/mcp\n    token: %s\n", dir, net.JoinHostPort(host, strconv.Itoa(port)), *token)
		mux := http.NewServeMux()
		mux.Handle("/mcp", srv.Handler(*token))
		hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() {
			<-ctx.Done()
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = hs.Shutdown(sctx)
		}()
		if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			serveErr = err
		}
	}
	snap, err := srv.Close()
	fmt.Fprintf(a.stderr, "trialbook mcp: experiment %s (%d kept, %d discarded, %d failed, %d interrupted)\n",
		snap.Status, snap.Counts.Kept, snap.Counts.Discarded, snap.Counts.Failed, snap.Counts.Interrupted)
	return errors.Join(serveErr, err)
}

// buildVersion is the module version the binary was built from, or "dev".
func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}
