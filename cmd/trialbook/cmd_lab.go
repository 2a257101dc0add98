package main

import (
	"context"
	"errors"
)

// runLab is not built yet; its issue owns this file.
func runLab(ctx context.Context, a *app, args []string) error {
	return errors.New("not built yet")
}
