/* signals.c - the stop signals (signals.h): a counting handler, nothing else
 * in signal context. */
#include "signals.h"

#include <signal.h>
#include <stddef.h>

static volatile sig_atomic_t count, last;
static const int sigs[3] = {SIGTERM, SIGUSR1, SIGINT};

static void on_signal(int sig)
{
    if (count < 1000)
        count++;
    last = sig;
}

void sched_signals_install(int reset)
{
    struct sigaction sa;
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    for (int k = 0; k < 3; k++)
        sigaddset(&sa.sa_mask, sigs[k]); /* no nesting: count++ stays exact */
    /* Restart interrupted system calls (fsync, MPI's sockets): the handler
     * only counts; waits that must notice it poll the count. */
    sa.sa_flags = SA_RESTART;
    if (reset) {
        count = 0;
        last = 0;
    }
    for (int k = 0; k < 3; k++)
        sigaction(sigs[k], &sa, NULL);
}

int sched_signal_level(void)
{
    int c = count;
    return c >= 2 ? 2 : c;
}

const char *sched_signal_name(void)
{
    switch (last) {
    case SIGTERM: return "SIGTERM";
    case SIGUSR1: return "SIGUSR1";
    case SIGINT: return "SIGINT";
    default: return "a signal";
    }
}
