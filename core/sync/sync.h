/*
 * sync.h: salesengine --sync CRM: new data from a CRM's HTTP API, imported
 * through the CRM's adapter exactly as its dump files would be.
 *
 * Owns: one row per CRM (its credentials, base URL, rate, the API calls
 * that make the adapter's inputs, in order, and how each pages), reading
 * credentials from the environment or an owner-only config file, the
 * sync window kept in the adapter's state, and the page loop: fetch
 * (http.h), check the response's shape, hand the page to the adapter
 * (adapter.h), commit the page's events with the window state.
 *
 * Never: prints (progress and retries go to the note callback); puts a
 * credential in a message; touches SQL or Lua itself.
 */
#ifndef SE_SYNC_H
#define SE_SYNC_H

#include "adapter.h"

/* se_sync_opts and se_sync() are in salesengine.h. */

/* The names of the CRMs, comma-separated, for usage messages. */
const char *se_sync_crms(void);

#endif
