package specs

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/google/go-jsonnet"
)

// libraryFS is trialbook's Jsonnet library, served from memory so it always
// matches the binary that evaluates it.
//
//go:embed lib/*.libsonnet
var libraryFS embed.FS

// LibraryName is what a problem file imports: import 'trialbook.libsonnet'.
const LibraryName = "trialbook.libsonnet"

// embeddedPrefix marks files found in the embedded library in error traces.
const embeddedPrefix = "<trialbook>/"

// LibrarySource returns the source of an embedded library file, e.g.
// LibrarySource("trialbook.libsonnet"), for tools that want to show or vendor it.
func LibrarySource(name string) (string, error) {
	b, err := fs.ReadFile(libraryFS, path.Join("lib", name))
	if err != nil {
		return "", fmt.Errorf("trialbook library has no %q: %w", name, err)
	}
	return string(b), nil
}

// importer resolves a problem file's imports: the embedded library first,
// then the importing file's folder, then each -J path in order. One importer
// serves one evaluation, so its cache never outlives the files it read.
type importer struct {
	jpath []string
	cache map[string]jsonnet.Contents // foundAt → contents
}

var _ jsonnet.Importer = (*importer)(nil)

func newImporter(jpath []string) *importer {
	return &importer{jpath: jpath, cache: map[string]jsonnet.Contents{}}
}

func (im *importer) Import(importedFrom, importedPath string) (jsonnet.Contents, string, error) {
	// The library's own names win over files beside the problem, so a stray
	// copy of trialbook.libsonnet can never shadow the one the binary knows.
	if !strings.Contains(importedPath, "/") || strings.HasPrefix(importedFrom, embeddedPrefix) {
		name := path.Clean(importedPath)
		if c, ok, err := im.embedded(name); ok || err != nil {
			return c, embeddedPrefix + name, err
		}
	}
	var tried []string
	if filepath.IsAbs(importedPath) {
		return im.file(importedPath, []string{importedPath})
	}
	if !strings.HasPrefix(importedFrom, embeddedPrefix) {
		dir := filepath.Dir(importedFrom)
		if importedFrom == "" {
			dir = "."
		}
		p := filepath.Join(dir, importedPath)
		if c, found, err := im.tryFile(p); found || err != nil {
			return c, p, err
		}
		tried = append(tried, dir)
	}
	for _, d := range im.jpath {
		p := filepath.Join(d, importedPath)
		if c, found, err := im.tryFile(p); found || err != nil {
			return c, p, err
		}
		tried = append(tried, d)
	}
	where := "the embedded library"
	if len(tried) > 0 {
		where = strings.Join(tried, ", ") + " or " + where
	}
	return jsonnet.Contents{}, "", fmt.Errorf("%q not found in %s (add a folder with -J)", importedPath, where)
}

func (im *importer) embedded(name string) (jsonnet.Contents, bool, error) {
	key := embeddedPrefix + name
	if c, ok := im.cache[key]; ok {
		return c, true, nil
	}
	b, err := fs.ReadFile(libraryFS, path.Join("lib", name))
	if errors.Is(err, fs.ErrNotExist) {
		return jsonnet.Contents{}, false, nil
	}
	if err != nil {
		return jsonnet.Contents{}, false, err
	}
	c := jsonnet.MakeContentsRaw(b)
	im.cache[key] = c
	return c, true, nil
}

func (im *importer) file(p string, tried []string) (jsonnet.Contents, string, error) {
	c, found, err := im.tryFile(p)
	if err != nil {
		return c, p, err
	}
	if !found {
		return c, "", fmt.Errorf("%q not found", p)
	}
	return c, p, nil
}

// tryFile reads p; found is false when it does not exist.
func (im *importer) tryFile(p string) (c jsonnet.Contents, found bool, err error) {
	if c, ok := im.cache[p]; ok {
		return c, true, nil
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return jsonnet.Contents{}, false, nil
	}
	if err != nil {
		return jsonnet.Contents{}, false, err
	}
	c = jsonnet.MakeContentsRaw(b)
	im.cache[p] = c
	return c, true, nil
}
