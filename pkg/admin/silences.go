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
	mux.HandleFunc("POST /silences", notFromBrowsers(s.addSilence))
	mux.HandleFunc("DELETE /silences/{id}", notFromBrowsers(s.removeSilence))
}

// notFromBrowsers refuses requests a web page could make: loopback is no
// defence against a page the operator opens, which can POST to
// 127.0.0.1. Browsers send Origin with a cross-site POST or DELETE, and
// cannot send Content-Type application/json across sites without a
// preflight this listener never answers.
func notFromBrowsers(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Origin") != "" {
			http.Error(w, "requests from web pages are refused", http.StatusForbidden)
			return
		}
		if r.Method == http.MethodPost && r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "Content-Type must be application/json", http.StatusUnsupportedMediaType)
			return
		}
		h(w, r)
	}
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
