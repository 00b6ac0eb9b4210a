import sys,re,statistics as s
d={}
for l in open(sys.argv[1]):
    m=re.match(r'(\S+) .*event loop ([\d.]+) .*other threads ([\d.]+)',l)
    if m: d.setdefault(m[1],[]).append((float(m[2]),float(m[3])))
for k,v in d.items(): print(k.ljust(10), "loop med %.1f min %.1f  other med %.1f   n=%d  all %s"%(s.median(a for a,b in v),min(a for a,b in v),s.median(b for a,b in v),len(v)," ".join("%.1f"%a for a,b in v)))
