package bridge

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// RuntimeInfo is what `trialbook serve` writes to its runtime file so that
// other tools (`trialbook lab install`, the panel's setup) find the running
// service and its token without it being copied by hand, as Jupyter's
// jpserver-PID.json does.
type RuntimeInfo struct {
	URL          string    `json:"url"` // base URL, e.g. http://127.0.0.1:8765/
	Token        string    `json:"token"`
	Root         string    `json:"root"`
	PID          int       `json:"pid"`
	AllowOrigins []string  `json:"allowOrigins"`
	Started      time.Time `json:"started"`
}

// RuntimeDir is where runtime files go: $XDG_RUNTIME_DIR/trialbook when that
// is set, else ~/.local/share/trialbook/runtime. xdgRuntime and home are
// passed in (from the environment, by cmd/) so this package reads none.
func RuntimeDir(xdgRuntime, home string) (string, error) {
	if xdgRuntime != "" {
		return filepath.Join(xdgRuntime, "trialbook"), nil
	}
	if home == "" {
		return "", errors.New("runtime dir: neither XDG_RUNTIME_DIR nor a home folder is known")
	}
	return filepath.Join(home, ".local", "share", "trialbook", "runtime"), nil
}

// RuntimeFileName is the runtime file of a server on port.
func RuntimeFileName(port int) string { return fmt.Sprintf("serve-%d.json", port) }

// WriteRuntimeFile writes info to dir/serve-PORT.json, readable by the user
// only (the folder 0700, the file 0600, both checked after writing since an
// existing folder keeps its mode). It returns the file's path; remove it when
// the server stops.
func WriteRuntimeFile(dir string, port int, info RuntimeInfo) (string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("runtime file: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return "", fmt.Errorf("runtime file: %w", err)
	}
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, RuntimeFileName(port))
	tmp, err := os.CreateTemp(dir, ".serve-*.json")
	if err != nil {
		return "", fmt.Errorf("runtime file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return "", fmt.Errorf("runtime file: %w", err)
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return "", fmt.Errorf("runtime file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("runtime file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", fmt.Errorf("runtime file: %w", err)
	}
	return path, nil
}

// ReadRuntimeFiles lists the runtime files in dir whose server process is
// still alive, newest first.
func ReadRuntimeFiles(dir string) ([]RuntimeInfo, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("runtime files: %w", err)
	}
	var out []RuntimeInfo
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "serve-") || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		var info RuntimeInfo
		if json.Unmarshal(b, &info) != nil || !processAlive(info.PID) {
			continue
		}
		out = append(out, info)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].Started.After(out[j-1].Started); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out, nil
}
