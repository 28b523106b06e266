/* hull-probe: reports what a container sees. */
int main(void) { return 0; }
