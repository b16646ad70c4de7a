package admin

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/sentinel-project/sentinel/pkg/silence"
)

// The silences API: GET /silences lists the active ones, POST /silences
// adds one (a silence.Silence in JSON, without id), DELETE
// /silences/{id} ends one. It changes only what is delivered, never what
// is learned; the listener's loopback default is its access control.
func (s *Server) silenceRoutes(mux *http.ServeMux) {
	if s.opts.Silences == nil {
		return
	}
	mux.HandleFunc("GET /silences", s.listSilences)
	mux.HandleFunc("POST /silences", s.addSilence)
	mux.HandleFunc("DELETE /silences/{id}", s.removeSilence)
}

func (s *Server) listSilences(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.opts.Silences.Active())
}

func (s *Server) addSilence(w http.ResponseWriter, r *http.Request) {
	var si silence.Silence
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&si); err != nil {
		http.Error(w, "reading the silence: "+err.Error(), http.StatusBadRequest)
		return
	}
	added, err := s.opts.Silences.Add(si)
	if errors.Is(err, silence.ErrInvalid) {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	s.opts.Logger.Info().Str("id", added.ID).Str("token", added.Token).Str("addresses", added.Addresses).
		Time("until", added.Until).Str("reason", added.Reason).Msg("silence added")
	writeJSON(w, http.StatusCreated, added)
}

func (s *Server) removeSilence(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	err := s.opts.Silences.Remove(id)
	if errors.Is(err, silence.ErrNotFound) {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	s.opts.Logger.Info().Str("id", id).Msg("silence removed")
	w.WriteHeader(http.StatusNoContent)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
