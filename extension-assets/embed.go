// Package extensionassets carries the built JupyterLab extension (the
// Trialbook side panel) inside the trialbook binary, and installs it into a
// JupyterLab environment.
//
// The TypeScript sources beside this file are built with npm
// (`make extension`) into labextension/, which is committed so that a plain
// `go build` needs no node.
package extensionassets

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Name is the extension's package name: the folder it is installed under in
// share/jupyter/labextensions, and the first half of its plugin id.
const Name = "trialbook-panel"

// PluginID is the settings key of the panel's plugin (schema/plugin.json).
const PluginID = Name + ":plugin"

//go:embed all:labextension
var built embed.FS

// FS is the built labextension: package.json, static/, schemas/.
func FS() fs.FS {
	sub, err := fs.Sub(built, "labextension")
	if err != nil {
		panic(err) // the embed pattern above guarantees the folder
	}
	return sub
}

// Settings are the panel's settings (schema/plugin.json).
type Settings struct {
	ServiceURL   string `json:"serviceUrl"`
	Token        string `json:"token"`
	NotebookRoot string `json:"notebookRoot"`
}

// Paths says where Install wrote.
type Paths struct {
	Extension string // PREFIX/share/jupyter/labextensions/trialbook-panel
	Overrides string // PREFIX/share/jupyter/lab/settings/overrides.d/trialbook.json; empty if none written
}

// Install copies the labextension into prefix/share/jupyter/labextensions/
// Name, replacing an earlier install, and, given settings, writes them as the
// panel's defaults in prefix/share/jupyter/lab/settings/overrides.d/
// trialbook.json. That file holds the token, so it is readable by the user
// only. JupyterLab reads overrides.d on every settings request, so a page
// reload picks up new settings.
func Install(prefix string, settings *Settings) (Paths, error) {
	if prefix == "" {
		return Paths{}, errors.New("install: empty prefix")
	}
	var p Paths
	p.Extension = filepath.Join(prefix, "share", "jupyter", "labextensions", Name)
	// Write the new copy beside the old, then swap, so a JupyterLab serving
	// the old one never sees half of each.
	parent := filepath.Dir(p.Extension)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return Paths{}, fmt.Errorf("install: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, "."+Name+"-")
	if err != nil {
		return Paths{}, fmt.Errorf("install: %w", err)
	}
	defer os.RemoveAll(tmp)
	if err := copyFS(tmp, FS()); err != nil {
		return Paths{}, fmt.Errorf("install: %w", err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return Paths{}, fmt.Errorf("install: %w", err)
	}
	if err := os.RemoveAll(p.Extension); err != nil {
		return Paths{}, fmt.Errorf("install: removing the old copy: %w", err)
	}
	if err := os.Rename(tmp, p.Extension); err != nil {
		return Paths{}, fmt.Errorf("install: %w", err)
	}
	if settings == nil {
		return p, nil
	}
	p.Overrides = filepath.Join(prefix, "share", "jupyter", "lab", "settings", "overrides.d", "trialbook.json")
	if err := writeOverrides(p.Overrides, *settings); err != nil {
		return Paths{}, err
	}
	return p, nil
}

func copyFS(dst string, src fs.FS) error {
	return fs.WalkDir(src, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		target := filepath.Join(dst, filepath.FromSlash(path))
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := fs.ReadFile(src, path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
}

func writeOverrides(path string, s Settings) error {
	b, err := json.MarshalIndent(map[string]Settings{PluginID: s}, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("settings: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".trialbook-*.json")
	if err != nil {
		return fmt.Errorf("settings: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("settings: %w", err)
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("settings: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("settings: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("settings: %w", err)
	}
	return nil
}
