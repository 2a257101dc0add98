package specs

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/google/go-jsonnet"
)

// recipesFS holds the built-in strategist's recipes, in Jsonnet.
//
//go:embed recipes/*.jsonnet
var recipesFS embed.FS

// Recipe is one idea the built-in strategist can turn into a trial. Recipe
// files evaluate to an array of recipes.
type Recipe struct {
	Name   string `json:"name"`
	Stage  string `json:"stage"`            // baseline, family, feature, exploit
	Family string `json:"family,omitempty"` // baseline and family recipes
	Step   string `json:"step,omitempty"`   // feature and exploit recipes: the step's switch
	When   string `json:"when,omitempty"`   // feature recipes: the evidence the step needs
	Title  string `json:"title"`
	Why    string `json:"why"`
	// Tasks limits a recipe to some tasks; empty means every task.
	Tasks []Task `json:"tasks,omitempty"`
	// Requires is a Python module the recipe imports.
	Requires   string            `json:"requires,omitempty"`
	Imports    string            `json:"imports,omitempty"`    // Python import lines the model needs
	Preprocess string            `json:"preprocess,omitempty"` // none, linear, tree, tree-imputed, native (categories as strings, named in CAT_FEATURES)
	Model      map[string]string `json:"model,omitempty"`      // regression / classification: a Python expression using PARAMS, SEED, N_JOBS
	Params     map[string]any    `json:"params,omitempty"`
	Moves      []Move            `json:"moves,omitempty"` // hyperparameter moves for exploitation
	File       string            `json:"-"`               // where it was defined
}

// Move is a change to a family's parameters.
type Move struct {
	Name   string         `json:"name"`
	Why    string         `json:"why"`
	Params map[string]any `json:"params"`
}

// Stages of a recipe, in the order the strategist uses them.
var recipeStages = map[string]bool{"baseline": true, "family": true, "feature": true, "exploit": true}

// LoadRecipes evaluates the built-in recipes, then each extra file; a recipe
// in an extra file replaces a built-in one of the same name.
func LoadRecipes(extraFiles []string) ([]Recipe, error) {
	names, err := fs.Glob(recipesFS, "recipes/*.jsonnet")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var all []Recipe
	index := map[string]int{}
	add := func(file string, rs []Recipe) error {
		for i, r := range rs {
			if err := r.check(); err != nil {
				return fmt.Errorf("%s: recipe %d (%q): %w", file, i, r.Name, err)
			}
			r.File = file
			if j, ok := index[r.Name]; ok {
				all[j] = r
				continue
			}
			index[r.Name] = len(all)
			all = append(all, r)
		}
		return nil
	}
	for _, n := range names {
		src, err := fs.ReadFile(recipesFS, n)
		if err != nil {
			return nil, err
		}
		rs, err := evalRecipes("<trialbook>/"+n, string(src))
		if err != nil {
			return nil, err
		}
		if err := add("<trialbook>/"+n, rs); err != nil {
			return nil, err
		}
	}
	for _, f := range extraFiles {
		src, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("recipes: %w", err)
		}
		rs, err := evalRecipes(f, string(src))
		if err != nil {
			return nil, err
		}
		if err := add(f, rs); err != nil {
			return nil, err
		}
	}
	return all, nil
}

func evalRecipes(file, src string) ([]Recipe, error) {
	vm := jsonnet.MakeVM()
	// A user's recipe file may import the built-in ones by name.
	data := map[string]jsonnet.Contents{}
	names, _ := fs.Glob(recipesFS, "recipes/*.jsonnet")
	for _, n := range names {
		b, _ := fs.ReadFile(recipesFS, n)
		data[path.Base(n)] = jsonnet.MakeContents(string(b))
	}
	vm.Importer(&jsonnet.MemoryImporter{Data: data})
	out, err := vm.EvaluateAnonymousSnippet(file, src)
	if err != nil {
		return nil, fmt.Errorf("recipes: %w", err)
	}
	var rs []Recipe
	if err := json.Unmarshal([]byte(out), &rs); err != nil {
		return nil, fmt.Errorf("%s: a recipe file must evaluate to an array of recipes ({name, stage, title, why, ...}): %w", file, err)
	}
	return rs, nil
}

func (r Recipe) check() error {
	switch {
	case r.Name == "":
		return fmt.Errorf("name is empty")
	case !recipeStages[r.Stage]:
		return fmt.Errorf("stage %q: want baseline, family, feature or exploit", r.Stage)
	case r.Title == "":
		return fmt.Errorf("title is empty")
	case (r.Stage == "baseline" || r.Stage == "family") && (r.Model["regression"] == "" && r.Model["classification"] == ""):
		return fmt.Errorf("model: a %s recipe needs model.regression and/or model.classification (a Python expression)", r.Stage)
	case (r.Stage == "feature" || r.Stage == "exploit") && r.Step == "":
		return fmt.Errorf("step is empty: a %s recipe names the step it switches on", r.Stage)
	}
	switch r.Preprocess {
	case "", "none", "linear", "tree", "tree-imputed", "native":
	default:
		return fmt.Errorf("preprocess %q: want none, linear, tree, tree-imputed or native", r.Preprocess)
	}
	return nil
}

// Seeded reports whether the recipe's model uses its seed: when it does not
// (a ridge regression), refitting it with other seeds changes nothing.
func (r Recipe) Seeded() bool {
	for _, expr := range r.Model {
		if strings.Contains(expr, "SEED") {
			return true
		}
	}
	return false
}

// Fits reports whether the recipe applies to a task.
func (r Recipe) Fits(t Task) bool {
	if len(r.Tasks) == 0 {
		return true
	}
	for _, x := range r.Tasks {
		if x == t {
			return true
		}
	}
	return false
}
