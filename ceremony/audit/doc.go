// Package audit is what an auditor's program calls to judge a published
// ceremony log: the officers' cosignatures of its checkpoints checked
// against the roster the log cites.
package audit
