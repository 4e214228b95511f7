/* polysweep.h - umbrella header: version, error codes, exit codes.
 *
 * polysweep trains sweeps of the toy models of superposition (see README.md and
 * the module headers listed below). The library is built from src/; the
 * `polysweep` executable (src/main.c) is a thin front end over cli_main().
 *
 * Conventions shared by every module:
 * - Functions that can fail return 0 on success or a negative PS_E* code.
 *   Those that produce a user-facing message take `char *err, size_t errlen`
 *   and write one line (no trailing newline) into it.
 * - Objects are created by `x_open`/`x_create`/`x_load(..., X **out)` and
 *   released by `x_close(X **p)` / `x_free(X **p)`, which accept NULL and
 *   half-built objects and set *p to NULL. Whoever creates an object frees it.
 *   Pointers returned by getters are borrowed: valid until the owner is freed.
 * - Model, training and measurement code never prints and never exits.
 */
#ifndef POLYSWEEP_H
#define POLYSWEEP_H

#define PS_VERSION "0.1.0"

/* Library error codes (negative). */
enum {
    PS_OK = 0,
    PS_EINVAL = -1,   /* bad argument or bad input (message in err) */
    PS_ENOMEM = -2,   /* allocation failed */
    PS_EIO = -3,      /* file system error (message in err) */
    PS_ENUMERIC = -4, /* numerics failed (NaN, divergence) */
    PS_EFORMAT = -5,  /* corrupt or foreign file */
    PS_EBUSY = -6,    /* resource locked by another process */
    PS_EMISMATCH = -7,/* job file does not match the existing output */
    PS_EINTR = -8,    /* interrupted by a signal (resumable) */
    PS_EMPI = -9,     /* MPI failure */
    PS_ELOST = -10,   /* a process of the run was lost: it died, or its node
                         stopped answering (resumable) */
};

/* Process exit codes (design.md). */
enum {
    PS_EXIT_OK = 0,         /* complete */
    PS_EXIT_INTERNAL = 1,   /* internal error */
    PS_EXIT_USAGE = 2,      /* usage or job-file error; nothing was written */
    PS_EXIT_INCOMPLETE = 3, /* interrupted, resumable */
    PS_EXIT_FAILED = 4,     /* complete, but some tasks failed */
    PS_EXIT_LOST = 5,       /* a rank was lost (its node failed or stopped
                               answering); resumable, like 3 */
};

/* The git revision the library was built from ("unknown" outside git). */
const char *ps_git_revision(void);

#endif
