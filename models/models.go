// Package models holds the models that ship with sentinel, built into the
// binary so that a fresh install scores windows from its first hour.
package models

import _ "embed"

// IForest is the default isolation-forest model, in the format of
// detect.Model.Save. It was trained by scripts/train-default-model on
// generated traffic; a model trained on your own history with `sentinel
// train` fits your traffic better and takes precedence.
//
//go:embed iforest.model
var IForest []byte
