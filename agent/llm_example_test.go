package agent_test

import (
	"context"
	"errors"
	"fmt"

	"trialbook/agent"
	"trialbook/specs"
)

// An LLM agent is configured from the problem file's agent section, then
// from command-line flags; its key comes from the SDK's environment variable.
func ExampleNewLLMAgent() {
	p := &specs.Problem{Agent: specs.Agent{Kind: "openai", Model: "qwen2.5-coder:14b", BaseURL: "http://localhost:11434/v1", MaxTokens: 500000}}
	cfg := agent.ConfigFromProblem(p.Agent)
	ag, err := agent.NewLLMAgent(p.Agent.Kind, cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = ag.Propose(context.Background(), agent.State{Problem: p, Next: 1})
	switch {
	case errors.Is(err, agent.ErrBudget):
		// stop the experiment cleanly
	case err != nil:
		// fail this trial with err's reason; agent.SpentOn(err) is what it cost
	}
}
