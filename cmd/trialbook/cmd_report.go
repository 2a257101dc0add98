package main

import (
	"context"
	"errors"
)

// runReport is not built yet; its issue owns this file.
func runReport(ctx context.Context, a *app, args []string) error {
	return errors.New("not built yet")
}
