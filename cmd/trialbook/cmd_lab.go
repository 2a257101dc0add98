package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"trialbook/bridge"
	extensionassets "trialbook/extension-assets"
)

// runLab installs the JupyterLab extension (the Trialbook side panel) that is
// embedded in this binary, and hands it the service's URL and token.
func runLab(ctx context.Context, a *app, args []string) error {
	if len(args) == 0 || args[0] != "install" {
		return fmt.Errorf("%w: want `lab install`", errUsage)
	}
	fs := a.flags("lab install")
	prefix := fs.String("prefix", "", "the Python environment JupyterLab runs from (default: $VIRTUAL_ENV, else $CONDA_PREFIX, else the nearest .venv above this folder, else the .venv beside the binary's folder)")
	serviceURL := fs.String("url", "", "the `URL` trialbook serve printed, with or without ?token= (default: the newest running serve's runtime file)")
	token := fs.String("token", "", "the service token (default: from --url, else from the runtime file)")
	notebookRoot := fs.String("notebook-root", "", "the path of serve's --root relative to JupyterLab's root_dir (empty: the same folder)")
	noSettings := fs.Bool("no-settings", false, "install the extension only; leave its settings as they are")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected %q", errUsage, fs.Arg(0))
	}

	p := *prefix
	if p == "" {
		p = findPrefix()
		if p == "" {
			return errors.New("no Python environment found ($VIRTUAL_ENV unset, no .venv above this folder or beside the binary): pass --prefix, e.g. --prefix .venv")
		}
	}
	p, err := filepath.Abs(p)
	if err != nil {
		return err
	}
	if st, err := os.Stat(p); err != nil || !st.IsDir() {
		return fmt.Errorf("--prefix %s: not a folder (want a Python environment such as .venv)", p)
	}

	var settings *extensionassets.Settings
	from := ""
	if !*noSettings {
		settings, from, err = labSettings(*serviceURL, *token)
		if err != nil {
			return err
		}
		if settings != nil {
			settings.NotebookRoot = *notebookRoot
		}
	}
	paths, err := extensionassets.Install(p, settings)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "installed %s into %s\n", extensionassets.Name, paths.Extension)
	switch {
	case paths.Overrides != "":
		fmt.Fprintf(a.stdout, "panel settings (service %s, token from %s) in %s\n", settings.ServiceURL, from, paths.Overrides)
	case *noSettings:
	default:
		fmt.Fprintln(a.stdout, "no running `trialbook serve` found, so no settings were written: start it and run `trialbook lab install` again, or paste the URL it prints into the panel's Connection… form")
	}
	if _, err := os.Stat(filepath.Join(p, "bin", "jupyter-lab")); err != nil {
		fmt.Fprintf(a.stdout, "note: JupyterLab is not installed in %s (pip install jupyterlab)\n", p)
	}
	fmt.Fprintln(a.stdout, "reload JupyterLab to load the panel")
	return nil
}

// labSettings finds the service URL and token: from the flags, else from the
// runtime file of the newest running `trialbook serve`. It returns nil
// settings when there is neither.
func labSettings(rawURL, token string) (*extensionassets.Settings, string, error) {
	if rawURL != "" {
		u, err := url.Parse(rawURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, "", fmt.Errorf("--url %q: want the URL `trialbook serve` printed, e.g. http://127.0.0.1:8765/?token=…", rawURL)
		}
		from := "--token"
		if token == "" {
			token, from = u.Query().Get("token"), "--url"
		}
		if token == "" {
			return nil, "", fmt.Errorf("--url %q has no ?token= and no --token was given", rawURL)
		}
		return &extensionassets.Settings{ServiceURL: baseURL(u), Token: token}, from, nil
	}
	if token != "" {
		return nil, "", errors.New("--token needs --url")
	}
	home, _ := os.UserHomeDir()
	dir, err := bridge.RuntimeDir(os.Getenv("XDG_RUNTIME_DIR"), home)
	if err != nil {
		return nil, "", err
	}
	infos, err := bridge.ReadRuntimeFiles(dir)
	if err != nil {
		return nil, "", err
	}
	if len(infos) == 0 {
		return nil, "", nil
	}
	info := infos[0] // the newest
	u, err := url.Parse(info.URL)
	if err != nil {
		return nil, "", fmt.Errorf("runtime file in %s: url %q: %w", dir, info.URL, err)
	}
	return &extensionassets.Settings{ServiceURL: baseURL(u), Token: info.Token}, fmt.Sprintf("the runtime file of serve pid %d in %s", info.PID, dir), nil
}

// baseURL drops the query and a trailing slash: the panel appends /api/….
func baseURL(u *url.URL) string {
	return strings.TrimRight(u.Scheme+"://"+u.Host+u.Path, "/")
}

// findPrefix finds the project's Python environment the way the kernel
// package finds kernelspecs: $VIRTUAL_ENV, $CONDA_PREFIX, the nearest .venv
// at or above the current folder, the .venv beside the binary's folder.
func findPrefix() string {
	for _, v := range []string{"VIRTUAL_ENV", "CONDA_PREFIX"} {
		if p := os.Getenv(v); p != "" {
			return p
		}
	}
	if wd, err := os.Getwd(); err == nil {
		for dir := wd; ; dir = filepath.Dir(dir) {
			if isVenv(filepath.Join(dir, ".venv")) {
				return filepath.Join(dir, ".venv")
			}
			if filepath.Dir(dir) == dir {
				break
			}
		}
	}
	if exe, err := os.Executable(); err == nil {
		if exe, err = filepath.EvalSymlinks(exe); err == nil {
			if p := filepath.Join(filepath.Dir(filepath.Dir(exe)), ".venv"); isVenv(p) {
				return p
			}
		}
	}
	return ""
}

func isVenv(p string) bool {
	st, err := os.Stat(filepath.Join(p, "bin"))
	return err == nil && st.IsDir()
}
