import sys
# mean cores of the main thread, the busiest other thread (the archive worker) and the rest,
# over the 2 s windows where the main thread is above 0.5 core (the fixed-rate step)
for f in sys.argv[1:]:
    snaps=[];cur=None
    for line in open(f):
        p=line.split()
        if p[0]=='T': cur=[float(p[1]),{}]; snaps.append(cur)
        elif len(p)>=4: cur[1][p[0].split(':')[0]]=int(p[-3])
    rows=[]
    for a,b in zip(snaps,snaps[1:]):
        dt=(b[0]-a[0])*1e9
        d={k:(v-a[1].get(k,v))/dt for k,v in b[1].items()}
        if not d: continue
        main=min(d,key=int)
        if d[main]<0.5: continue
        others=sorted((v for k,v in d.items() if k!=main),reverse=True)
        rows.append((d[main],others[0] if others else 0,sum(others[1:])))
    if rows:
        n=len(rows); print(f"{f.split('/')[-1]:32} windows {n} main {sum(r[0] for r in rows)/n:.2f} worker {sum(r[1] for r in rows)/n:.2f} rest {sum(r[2] for r in rows)/n:.2f}")
