// Command fakellm serves the fake OpenAI/Anthropic provider on the loopback
// interface so that `trialbook run --agent openai|anthropic` can be tried by
// hand without a model:
//
//	go run ./agent/internal/fakeprovider/fakellm -script steps.json -key sk-test -model test-model
//
// steps.json is a list of steps, played in order, one per request:
//
//	[{"answer": {"title": "...", "plan": "...", "cells": ["..."], "family": "", "features": ""}},
//	 {"call": {"name": "run_cell", "args": {"code": "print(X.shape)"}}},
//	 {"status": 429, "retryAfter": "1"}, {"text": "not json"}, {"hang": true}, {"cut": true}]
//
// It prints the base URLs to export, and on SIGINT the requests' problems.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"trialbook/agent/internal/fakeprovider"
)

type step struct {
	Answer json.RawMessage `json:"answer"`
	Call   *struct {
		Name string          `json:"name"`
		Args json.RawMessage `json:"args"`
	} `json:"call"`
	Text       *string `json:"text"`
	Status     int     `json:"status"`
	RetryAfter string  `json:"retryAfter"`
	Hang       bool    `json:"hang"`
	Cut        bool    `json:"cut"`
}

func main() {
	script := flag.String("script", "", "JSON file of steps")
	key := flag.String("key", "", "the API key requests must carry (empty: any)")
	model := flag.String("model", "", "the model requests must name (empty: any)")
	flag.Parse()
	if err := run(*script, *key, *model); err != nil {
		fmt.Fprintln(os.Stderr, "fakellm:", err)
		os.Exit(1)
	}
}

func run(script, key, model string) error {
	b, err := os.ReadFile(script)
	if err != nil {
		return err
	}
	var steps []step
	if err := json.Unmarshal(b, &steps); err != nil {
		return fmt.Errorf("%s: %w", script, err)
	}
	srv := fakeprovider.Start(fakeprovider.Config{Key: key, Model: model})
	defer srv.Close()
	for i, s := range steps {
		switch {
		case s.Answer != nil:
			srv.Play(fakeprovider.Answer(s.Answer))
		case s.Call != nil:
			srv.Play(fakeprovider.Call(s.Call.Name, s.Call.Args))
		case s.Text != nil:
			srv.Play(fakeprovider.Text(*s.Text))
		case s.Status != 0:
			srv.Play(fakeprovider.Status(s.Status, s.RetryAfter))
		case s.Hang:
			srv.Play(fakeprovider.Hang())
		case s.Cut:
			srv.Play(fakeprovider.Cut())
		default:
			return fmt.Errorf("%s: step %d is none of answer, call, text, status, hang, cut", script, i)
		}
	}
	fmt.Printf("export OPENAI_BASE_URL=%s\nexport ANTHROPIC_BASE_URL=%s\n", srv.OpenAIURL(), srv.AnthropicURL())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	fmt.Printf("%d requests, %d steps left\n", len(srv.Requests()), srv.Left())
	for _, p := range srv.Problems() {
		fmt.Println("problem:", p)
	}
	return nil
}
