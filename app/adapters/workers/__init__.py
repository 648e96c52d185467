"""Drop-in code run outside the gateway's process: import probes in throwaway child processes."""
