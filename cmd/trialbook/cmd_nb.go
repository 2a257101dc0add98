package main

import (
	"context"
	"errors"
)

// runNB is not built yet; its issue owns this file.
func runNB(ctx context.Context, a *app, args []string) error {
	return errors.New("not built yet")
}
