package lab

import (
	"fmt"
	"path"
	"path/filepath"
)

// Folder is an experiment folder and the one place that knows its layout
// (../shared/design.md, "The experiment folder"):
//
//	journal.jsonl                    the events, the source of truth
//	AGENTS.md                        rendered from the problem
//	data/                            the agents' data view (dataview.go)
//	trials/NNN-slug.ipynb            one notebook per trial
//	trials/NNN/                      the trial's artifacts: oof.npy, holdout.npy, model.pkl, importance.json
//	.trialbook/                      private: sealed labels, the lock
//
// Relative paths (in the journal, in notebooks) use forward slashes.
type Folder struct{ Dir string }

// JournalFile is the experiment's journal, relative to its folder.
const JournalFile = "journal.jsonl"

// The artifacts a trial hands back into its trials/NNN/ folder.
const (
	OOFFile        = "oof.npy"
	HoldoutFile    = "holdout.npy"
	ModelFile      = "model.pkl"
	ImportanceFile = "importance.json"
)

const (
	agentsFile = "AGENTS.md"
	trialsDir  = "trials"
	privateDir = ".trialbook"
)

// Journal is journal.jsonl.
func (f Folder) Journal() string { return filepath.Join(f.Dir, JournalFile) }

// AgentsMD is AGENTS.md.
func (f Folder) AgentsMD() string { return filepath.Join(f.Dir, agentsFile) }

// Private is .trialbook/, where nothing an agent may read is kept.
func (f Folder) Private() string { return filepath.Join(f.Dir, privateDir) }

// Path is a path relative to the folder (forward slashes) on disk.
func (f Folder) Path(rel string) string { return filepath.Join(f.Dir, filepath.FromSlash(rel)) }

// Artifacts is trials/NNN/ of trial n.
func (f Folder) Artifacts(n int) string { return f.Path(ArtifactsRel(n)) }

// Artifact is the file name in trials/NNN/ of trial n.
func (f Folder) Artifact(n int, name string) string { return filepath.Join(f.Artifacts(n), name) }

// NotebookRel is trials/NNN-slug.ipynb of trial n titled title, relative
// to the folder.
func NotebookRel(n int, title string) string {
	return path.Join(trialsDir, fmt.Sprintf("%03d-%s.ipynb", n, slug(title)))
}

// ArtifactsRel is trials/NNN of trial n, relative to the folder.
func ArtifactsRel(n int) string { return path.Join(trialsDir, fmt.Sprintf("%03d", n)) }

// TrialArtifacts is trials/NNN/ of trial n in the folder dir.
func TrialArtifacts(dir string, n int) string { return Folder{dir}.Artifacts(n) }
