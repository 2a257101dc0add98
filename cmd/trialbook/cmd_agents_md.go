package main

import (
	"context"
	"errors"
)

// runAgentsMD is not built yet; its issue owns this file.
func runAgentsMD(ctx context.Context, a *app, args []string) error {
	return errors.New("not built yet")
}
