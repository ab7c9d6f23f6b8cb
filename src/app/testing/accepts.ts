import net from 'node:net';

/** Whether a TCP connection to 127.0.0.1 on the port of `address` (`host:port`) is accepted. */
export function accepts(address: string): Promise<boolean> {
  const port = Number(address.slice(address.lastIndexOf(':') + 1));
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}
