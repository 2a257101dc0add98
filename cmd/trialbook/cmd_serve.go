package main

import (
	"context"
	"errors"
)

// runServe is not built yet; its issue owns this file.
func runServe(ctx context.Context, a *app, args []string) error {
	return errors.New("not built yet")
}
