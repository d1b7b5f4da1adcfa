/* The sandbox ("pause") image's only program. It holds a Pod's namespaces open until it is
 * told to stop (SIGTERM or SIGINT, exit 0) and, as PID 1 of a shared PID namespace, reaps the
 * orphans reparented to it. Built with `cc -static -O2`: the image holds nothing else. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void stop(int sig) { (void)sig; _exit(0); }

static void reap(int sig) {
    (void)sig;
    while (waitpid(-1, NULL, WNOHANG) > 0) {}
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "-v") == 0) {
        puts("pause (appauth-operator test image)");
        return 0;
    }
    if (getpid() != 1)
        fputs("pause: not PID 1, orphans are reaped elsewhere\n", stderr);
    struct sigaction sa = {0};
    sa.sa_handler = stop;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = reap;
    sa.sa_flags = SA_NOCLDSTOP | SA_RESTART;
    sigaction(SIGCHLD, &sa, NULL);
    for (;;)
        pause();
}
