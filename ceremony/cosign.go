package ceremony

import "github.com/keyceremony/keyceremony/hsm/quorum"

// OfficerKeys are the roster's cosigning keys by card id, as the opening
// entry lists them for viewers that do not read the script (the web page);
// the engine checks them against the roster. Empty when the roster has none.
func OfficerKeys(r *quorum.Roster) map[string]string {
	out := map[string]string{}
	if r == nil {
		return out
	}
	for _, c := range r.Cards {
		if c.Key != "" {
			out[c.ID] = c.Key
		}
	}
	return out
}
