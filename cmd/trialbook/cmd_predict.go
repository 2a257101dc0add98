package main

import (
	"context"
	"errors"
)

// runPredict is not built yet; its issue owns this file.
func runPredict(ctx context.Context, a *app, args []string) error {
	return errors.New("not built yet")
}
