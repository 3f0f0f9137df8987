// schedule: t.sa (starts at) / t.ea (ends at), epoch ms.
K[K.length] = (x) => {
  const o = x.ok;
  x.ok = (b, t, st, now) => !(now < t.sa || now >= t.ea) && o(b, t, st, now);
};
