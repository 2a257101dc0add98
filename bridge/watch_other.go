//go:build !linux

package bridge

// dirWatch is inotify's on Linux; elsewhere list refreshes look at every
// experiment each time.
type dirWatch struct{}

func newDirWatch() *dirWatch                         { return nil }
func (w *dirWatch) add(string) error                 { return nil }
func (w *dirWatch) changed() (map[string]bool, bool) { return nil, true }
func (w *dirWatch) close()                           {}
